//! Readers for source tables: CSV (also gzip-compressed), Parquet and Arrow IPC.
//!
//! Only the columns a mapping names are read: Parquet and IPC are scanned lazily with projection
//! pushdown, so wide or large files are not loaded whole. CSV columns are read as text, so that
//! every value reaches the quality rules exactly as written.

use crate::error::EngineError;
use polars::prelude::*;
use std::io::Read;
use std::path::Path;

/// The formats vigil reads, chosen by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// Comma- (or otherwise) separated text.
    Csv,
    /// gzip-compressed CSV.
    CsvGz,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC file (Feather v2).
    Ipc,
}

impl SourceFormat {
    /// Picks the format from the file name's ending.
    pub fn from_path(path: &Path) -> Result<Self, EngineError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if name.ends_with(".csv.gz") {
            Ok(SourceFormat::CsvGz)
        } else if name.ends_with(".csv") || name.ends_with(".txt") {
            Ok(SourceFormat::Csv)
        } else if name.ends_with(".parquet") || name.ends_with(".pq") {
            Ok(SourceFormat::Parquet)
        } else if name.ends_with(".arrow") || name.ends_with(".ipc") || name.ends_with(".feather") {
            Ok(SourceFormat::Ipc)
        } else {
            Err(EngineError::UnsupportedFormat {
                path: path.to_path_buf(),
            })
        }
    }
}

/// A lazy scan of a source table (CSV columns as text; gzip CSV decompressed into memory).
fn scan(path: &Path, separator: u8) -> Result<LazyFrame, EngineError> {
    let format = SourceFormat::from_path(path)?;
    if !path.exists() {
        return Err(EngineError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "input file not found"),
        ));
    }
    let ctx = || format!("reading {}", path.display());
    Ok(match format {
        SourceFormat::Parquet => {
            let p = PlRefPath::try_from_path(path).map_err(EngineError::polars(ctx()))?;
            LazyFrame::scan_parquet(p, ScanArgsParquet::default()).map_err(EngineError::polars(ctx()))?
        }
        SourceFormat::Ipc => {
            let p = PlRefPath::try_from_path(path).map_err(EngineError::polars(ctx()))?;
            LazyFrame::scan_ipc(p, Default::default(), Default::default())
                .map_err(EngineError::polars(ctx()))?
        }
        SourceFormat::Csv => {
            let p = PlRefPath::try_from_path(path).map_err(EngineError::polars(ctx()))?;
            LazyCsvReader::new(p)
                .with_has_header(true)
                .with_infer_schema_length(Some(0))
                .with_separator(separator)
                .finish()
                .map_err(EngineError::polars(ctx()))?
        }
        SourceFormat::CsvGz => {
            // gzip has no random access: decompress once into memory, then parse.
            let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
            let mut bytes = Vec::new();
            flate2::read::MultiGzDecoder::new(file)
                .read_to_end(&mut bytes)
                .map_err(|e| EngineError::io(path, e))?;
            let df = CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(0))
                .map_parse_options(|o| o.with_separator(separator))
                .into_reader_with_file_handle(std::io::Cursor::new(bytes))
                .finish()
                .map_err(EngineError::polars(ctx()))?;
            df.lazy()
        }
    })
}

/// Fails with [`EngineError::MissingColumns`] (listing what the file does have) unless the
/// scan has every one of `columns`.
fn check_columns(
    lf: &mut LazyFrame,
    columns: &[String],
    path: &Path,
    mapping: &Path,
) -> Result<(), EngineError> {
    let schema = lf
        .collect_schema()
        .map_err(EngineError::polars(format!("reading {}", path.display())))?;
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| schema.get(c.as_str()).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(EngineError::MissingColumns {
            path: path.to_path_buf(),
            mapping: mapping.to_path_buf(),
            missing,
            available: schema.iter_names().map(|n| n.to_string()).collect(),
        })
    }
}

/// The columns and types of a source table (CSV columns are all text), without reading its rows
/// (a gzip CSV is decompressed to find them).
pub fn source_schema(path: &Path, separator: u8) -> Result<SchemaRef, EngineError> {
    scan(path, separator)?
        .collect_schema()
        .map_err(EngineError::polars(format!("reading {}", path.display())))
}

/// Reads the named columns of a source table. Fails with [`EngineError::MissingColumns`]
/// (listing what the file does have) when a column is absent.
pub fn read_columns(
    path: &Path,
    columns: &[String],
    separator: u8,
    mapping: &Path,
) -> Result<DataFrame, EngineError> {
    let mut lf = scan(path, separator)?;
    check_columns(&mut lf, columns, path, mapping)?;
    let exprs: Vec<Expr> = columns.iter().map(|c| col(c.as_str())).collect();
    lf.select(exprs)
        .collect()
        .map_err(EngineError::polars(format!("reading {}", path.display())))
}

/// A source table read a slice of rows at a time: Parquet and Arrow IPC from the file (only the
/// row groups a slice needs), text formats from memory (they have no random access).
pub struct ChunkedSource {
    path: std::path::PathBuf,
    separator: u8,
    rows: usize,
    /// Every column of the table, read or not.
    columns: Vec<String>,
    whole: Option<DataFrame>,
}

impl ChunkedSource {
    /// Opens `path` and checks that it has `columns` (the mapping's, named in errors).
    pub fn open(path: &Path, columns: &[String], separator: u8, mapping: &Path) -> Result<Self, EngineError> {
        let format = SourceFormat::from_path(path)?;
        let mut lf = scan(path, separator)?;
        check_columns(&mut lf, columns, path, mapping)?;
        let ctx = || format!("reading {}", path.display());
        let all = lf.collect_schema().map_err(EngineError::polars(ctx()))?;
        let all: Vec<String> = all.iter_names().map(|n| n.to_string()).collect();
        let (rows, whole) = match format {
            SourceFormat::Parquet | SourceFormat::Ipc => {
                let n = lf.select([len()]).collect().map_err(EngineError::polars(ctx()))?;
                let n = n
                    .columns()
                    .first()
                    .and_then(|c| c.get(0).ok())
                    .and_then(|v| v.extract::<u64>())
                    .unwrap_or(0);
                (n as usize, None)
            }
            SourceFormat::Csv | SourceFormat::CsvGz => {
                let exprs: Vec<Expr> = columns.iter().map(|c| col(c.as_str())).collect();
                let df = lf.select(exprs).collect().map_err(EngineError::polars(ctx()))?;
                (df.height(), Some(df))
            }
        };
        Ok(ChunkedSource {
            path: path.to_path_buf(),
            separator,
            rows,
            columns: all,
            whole,
        })
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Every column of the table, read or not.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// `columns` of rows `offset .. offset + len`.
    pub fn read(&self, columns: &[String], offset: usize, len: usize) -> Result<DataFrame, EngineError> {
        let ctx = || format!("reading {}", self.path.display());
        let exprs: Vec<Expr> = columns.iter().map(|c| col(c.as_str())).collect();
        match &self.whole {
            Some(df) => Ok(df
                .select(columns.iter().map(String::as_str))
                .map_err(EngineError::polars(ctx()))?
                .slice(offset as i64, len)),
            None => scan(&self.path, self.separator)?
                .select(exprs)
                .slice(offset as i64, len as IdxSize)
                .collect()
                .map_err(EngineError::polars(ctx())),
        }
    }
}

/// A lazy scan of a run's own output file (parquet; the format is told by the extension, as for
/// inputs), for reading only the rows and columns a reader needs: filters and selections on it
/// are pushed down into the file's reader.
pub fn scan_parquet(path: &Path) -> Result<LazyFrame, EngineError> {
    scan(path, b',')
}

/// Reads a whole parquet file (a run's own output), naming the file in the error.
pub fn read_parquet(path: &Path) -> Result<DataFrame, EngineError> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(EngineError::polars(format!("reading {}", path.display())))
}

/// The text column `name` of `df`, nulls as empty strings.
pub fn text_values(df: &DataFrame, name: &str) -> Result<Vec<String>, EngineError> {
    let ctx = format!("reading text column {name}");
    Ok(df
        .column(name)
        .map_err(EngineError::polars(ctx.clone()))?
        .str()
        .map_err(EngineError::polars(ctx))?
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect())
}

/// The numeric column `name` of `df` as floats, nulls as NaN.
pub fn float_values(df: &DataFrame, name: &str) -> Result<Vec<f64>, EngineError> {
    let ctx = format!("reading numeric column {name}");
    Ok(df
        .column(name)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(EngineError::polars(ctx.clone()))?
        .f64()
        .map_err(EngineError::polars(ctx))?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// Region id → the text column `column` of a panel's region table (`region_name`,
/// `country_code`, …); regions with a null in either column are left out.
pub fn region_lookup(
    regions: &DataFrame,
    column: &str,
) -> Result<std::collections::HashMap<String, String>, EngineError> {
    let ctx = format!("reading region_id and {column} of a region table");
    let text = |name: &str| {
        regions
            .column(name)
            .and_then(|c| c.str().cloned())
            .map_err(EngineError::polars(ctx.clone()))
    };
    let (ids, values) = (text("region_id")?, text(column)?);
    Ok(ids
        .iter()
        .zip(values.iter())
        .filter_map(|(i, v)| Some((i?.to_string(), v?.to_string())))
        .collect())
}
