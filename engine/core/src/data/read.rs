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

/// A record of a CSV input whose number of fields differs from its header's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaggedRecord {
    /// The record's place among the data records (0 = the first after the header).
    pub record: usize,
    /// The line it starts on (1 = the header).
    pub line: u64,
    /// Its number of fields.
    pub fields: usize,
    /// The header's.
    pub header: usize,
    /// It is the last record and its last field holds a line break: a quote opened in it is
    /// most likely never closed, so the rest of the file was read as one field.
    pub unclosed_quote: bool,
}

impl RaggedRecord {
    /// What is wrong, in words for the quarantine and for errors.
    pub fn message(&self) -> String {
        if self.unclosed_quote {
            format!(
                "the record on line {} has {} fields, the header {}: a quote opened in it is never closed, so the rest of the file reads as one field",
                self.line, self.fields, self.header
            )
        } else {
            format!(
                "the record on line {} has {} fields, the header {}; a record must have one field per column (check its separators and quotes)",
                self.line, self.fields, self.header
            )
        }
    }
}

/// Every record of a CSV input whose number of fields differs from the header's, and the count
/// of data records, read as a stream (a gzip input is decompressed as it is read): the rows
/// polars would pad or cut.
pub fn ragged_records(path: &Path, separator: u8) -> Result<(usize, Vec<RaggedRecord>), EngineError> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let input: Box<dyn Read> = match SourceFormat::from_path(path)? {
        SourceFormat::CsvGz => Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file))),
        _ => Box::new(file),
    };
    let invalid = |message: String| EngineError::Invalid {
        context: format!("reading {}", path.display()),
        message,
    };
    let csv_error = |e: csv::Error| {
        let at = e
            .position()
            .map_or(String::new(), |p| format!("line {}: ", p.line()));
        invalid(format!("{at}{e}; is it a CSV file with this separator?"))
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader.byte_headers().map_err(csv_error)?.len();
    let mut ragged = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    let mut last_breaks = false;
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        last_breaks = record.iter().next_back().is_some_and(|f| f.contains(&b'\n'));
        if record.len() != header {
            ragged.push(RaggedRecord {
                record: n,
                line: record.position().map_or(0, csv::Position::line),
                fields: record.len(),
                header,
                unclosed_quote: false,
            });
        }
        n += 1;
    }
    if let Some(last) = ragged.last_mut()
        && last.record + 1 == n
        && last_breaks
    {
        last.unclosed_quote = true;
    }
    Ok((n, ragged))
}

/// [`ragged_records`] of a CSV input; none for Parquet and Arrow IPC, which have no records to
/// cut.
/// Also the number of data records, for CSV.
fn csv_ragged(path: &Path, separator: u8) -> Result<(Option<usize>, Vec<RaggedRecord>), EngineError> {
    match SourceFormat::from_path(path)? {
        SourceFormat::Csv | SourceFormat::CsvGz if path.exists() => {
            let (n, ragged) = ragged_records(path, separator)?;
            Ok((Some(n), ragged))
        }
        _ => Ok((None, Vec::new())),
    }
}

/// Fails unless the rows polars read are the input's records one for one, when some records
/// are ragged: their rows are quarantined by position, which must then be right.
fn check_aligned(
    path: &Path,
    records: Option<usize>,
    rows: usize,
    ragged: &[RaggedRecord],
) -> Result<(), EngineError> {
    match ragged.first() {
        Some(r) if records != Some(rows) => Err(EngineError::Invalid {
            context: format!("reading {}", path.display()),
            message: format!(
                "{}; the file's {} records do not line up with the {rows} rows read, so vigil cannot tell which rows to quarantine: correct the file",
                r.message(),
                records.unwrap_or(0)
            ),
        }),
        _ => Ok(()),
    }
}

/// polars' error on reading a CSV input, in words that name the line and the cause where the
/// input has a ragged record (the likely cause); other errors as they are.
fn explained(e: EngineError, path: &Path, ragged: &[RaggedRecord]) -> EngineError {
    match (e, ragged.first()) {
        (EngineError::Polars { .. }, Some(r)) => EngineError::Invalid {
            context: format!("reading {}", path.display()),
            message: r.message(),
        },
        (e, _) => e,
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
            // a ragged record becomes a padded or cut row, which ingest quarantines by its
            // position ([`ragged_records`]), instead of an error that names no line
            LazyCsvReader::new(p)
                .with_has_header(true)
                .with_infer_schema_length(Some(0))
                .with_separator(separator)
                .map_parse_options(|o| o.with_truncate_ragged_lines(true))
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
                .map_parse_options(|o| o.with_separator(separator).with_truncate_ragged_lines(true))
                .into_reader_with_file_handle(std::io::Cursor::new(bytes))
                .finish()
                .map_err(EngineError::polars(ctx()))?;
            df.lazy()
        }
    })
}

/// Fails with [`EngineError::MissingColumns`] (listing what the file does have) unless the
/// scan has every one of `columns`; else returns every column the scan has.
fn check_columns(
    lf: &mut LazyFrame,
    columns: &[String],
    path: &Path,
    mapping: &Path,
) -> Result<Vec<String>, EngineError> {
    let schema = lf
        .collect_schema()
        .map_err(EngineError::polars(format!("reading {}", path.display())))?;
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| schema.get(c.as_str()).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(schema.iter_names().map(|n| n.to_string()).collect())
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

/// A source table read a slice of rows at a time: Parquet and Arrow IPC from the file (only the
/// row groups a slice needs), text formats from memory (they have no random access).
pub struct ChunkedSource {
    path: std::path::PathBuf,
    separator: u8,
    rows: usize,
    /// The records of a CSV input with the wrong number of fields.
    ragged: Vec<RaggedRecord>,
    /// Every column of the table, read or not.
    columns: Vec<String>,
    whole: Option<DataFrame>,
}

impl ChunkedSource {
    /// Opens `path` and checks that it has `columns` (the mapping's, named in errors).
    pub fn open(path: &Path, columns: &[String], separator: u8, mapping: &Path) -> Result<Self, EngineError> {
        let format = SourceFormat::from_path(path)?;
        let (records, ragged) = csv_ragged(path, separator)?;
        let mut lf = scan(path, separator).map_err(|e| explained(e, path, &ragged))?;
        let all = check_columns(&mut lf, columns, path, mapping)?;
        let ctx = || format!("reading {}", path.display());
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
                let df = lf
                    .select(exprs)
                    .collect()
                    .map_err(|e| explained(EngineError::polars(ctx())(e), path, &ragged))?;
                check_aligned(path, records, df.height(), &ragged)?;
                (df.height(), Some(df))
            }
        };
        Ok(ChunkedSource {
            path: path.to_path_buf(),
            separator,
            rows,
            ragged,
            columns: all,
            whole,
        })
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The records of a CSV input with the wrong number of fields (rows polars padded or cut).
    pub fn ragged(&self) -> &[RaggedRecord] {
        &self.ragged
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
