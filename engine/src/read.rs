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

/// Reads the named columns of a source table. Fails with [`EngineError::MissingColumns`]
/// (listing what the file does have) when a column is absent.
pub fn read_columns(
    path: &Path,
    columns: &[String],
    separator: u8,
    mapping: &Path,
) -> Result<DataFrame, EngineError> {
    let format = SourceFormat::from_path(path)?;
    if !path.exists() {
        return Err(EngineError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "input file not found"),
        ));
    }
    let ctx = || format!("reading {}", path.display());
    let mut lf = match format {
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
    };
    let schema = lf.collect_schema().map_err(EngineError::polars(ctx()))?;
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| schema.get(c.as_str()).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(EngineError::MissingColumns {
            path: path.to_path_buf(),
            mapping: mapping.to_path_buf(),
            missing,
            available: schema.iter_names().map(|n| n.to_string()).collect(),
        });
    }
    let exprs: Vec<Expr> = columns.iter().map(|c| col(c.as_str())).collect();
    lf.select(exprs).collect().map_err(EngineError::polars(ctx()))
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
