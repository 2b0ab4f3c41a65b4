//! `liftos unify`, `liftos validate`, `liftos clean` and `liftos sql`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use liftos::io::{check_distinct_files, write_bytes_atomically, write_table_atomically};
use liftos::transform::{
    CLEAN_PART_ROWS, CurrencyConversion, Fixes, QualityRules, RateTable, ReadOptions,
    SchemaMapping, SqlSession, TableWriter, UNIFY_BATCH_ROWS, clean_file, clean_to_file,
    estimated_rows, read_table_with, read_tables_with, unify_files, unify_marketing_data,
    validate_data_quality, validate_file,
};

/// `NAME=FILE`, as given to `--input` of `liftos unify` and `liftos sql`.
#[derive(Debug, Clone)]
pub struct NamedFile {
    name: String,
    path: PathBuf,
}

/// Parses `NAME=FILE` (a clap value parser: errors become usage errors).
pub fn parse_named_file(s: &str) -> Result<NamedFile, String> {
    let Some((name, path)) = s.split_once('=') else {
        return Err(format!("`{s}` is not NAME=FILE (e.g. meta=meta.csv)"));
    };
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(format!(
            "`{s}`: NAME must be letters, digits, `_` or `-` (e.g. meta=meta.csv)"
        ));
    }
    if path.trim().is_empty() {
        return Err(format!("`{s}`: FILE is empty (e.g. meta=meta.csv)"));
    }
    Ok(NamedFile {
        name: name.to_owned(),
        path: PathBuf::from(path),
    })
}

/// `<dir>/<stem>.quarantine.<ext>` next to `out`.
fn quarantine_next_to(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "csv".to_owned());
    out.with_file_name(format!("{stem}.quarantine.{ext}"))
}

/// The quarantine file of a command writing `out` (`quarantine`, else
/// [`quarantine_next_to`] `out`), once neither output is one of `inputs` nor the other
/// and both can be written (see [`check_output`]): checked before any work, so that a
/// quarantine that cannot be written never leaves `--out` replaced alone.
fn checked_quarantine(
    inputs: &[(&str, &Path)],
    out: &Path,
    quarantine: Option<&PathBuf>,
) -> liftos::Result<PathBuf> {
    let given = quarantine.is_some();
    let quarantine = quarantine
        .cloned()
        .unwrap_or_else(|| quarantine_next_to(out));
    check_distinct_files(inputs, &[("--out", out), ("--quarantine", &quarantine)])?;
    check_output("--out", out)?;
    check_output("--quarantine", &quarantine)?;
    if !given && quarantine.exists() && !is_quarantine(&quarantine) {
        return Err(liftos::Error::Transform(liftos::transform::Error::File {
            path: quarantine,
            line: None,
            message: "is where the quarantine goes beside --out, and is a file that is not \
                      a LiftOS quarantine (its first columns are not `_stage`, `_row`, \
                      `_reason`), so it is left as it is: name the quarantine with \
                      --quarantine FILE, or move that file; nothing was written"
                .to_owned(),
        }));
    }
    Ok(quarantine)
}

/// Whether the table file `path` is a quarantine a LiftOS command wrote: its first
/// columns are `_stage`, `_row` and `_reason`.
fn is_quarantine(path: &Path) -> bool {
    use liftos::transform::{QUARANTINE_REASON, QUARANTINE_ROW, QUARANTINE_STAGE};
    liftos::transform::column_names(path).is_ok_and(|names| {
        names.len() >= 3 && names[..3] == [QUARANTINE_STAGE, QUARANTINE_ROW, QUARANTINE_REASON]
    })
}

/// Whether the table file `path` (given to `option`) can be written: a `.csv` or
/// `.parquet` name, not a directory, in a directory that exists.
fn check_output(option: &str, path: &Path) -> liftos::Result<()> {
    let refuse = |message: String| {
        liftos::Error::Transform(liftos::transform::Error::File {
            path: path.to_owned(),
            line: None,
            message: format!("{option}: {message}; nothing was written"),
        })
    };
    if let Err(liftos::transform::Error::File { message, .. }) =
        liftos::transform::table_format(path)
    {
        return Err(refuse(message));
    }
    if path.is_dir() {
        return Err(refuse("is a directory; name a file".to_owned()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(refuse(format!(
            "the directory {} does not exist",
            dir.display()
        )));
    }
    Ok(())
}

/// Whether the quarantine is written: when it has rows, when `--quarantine` names it,
/// and when a file is already at its path (replaced by a header-only one, so that a
/// quarantine of an earlier run never stays beside this run's output: rows out plus
/// rows quarantined always equal rows in; at the path beside `--out`, only a LiftOS
/// quarantine gets this far: see [`checked_quarantine`]).
fn keep_empty_quarantine(given: bool, path: &Path) -> bool {
    given || path.exists()
}

/// Writes `table` to `out` and, when `quarantine` is given, its quarantine: both or
/// neither when a file cannot be created or written. Both are written to temporary
/// files first; the quarantine is renamed into place first, so that a failure of the
/// last rename never leaves quarantined rows in no file.
fn write_with_quarantine(
    out: &Path,
    table: &RecordBatch,
    quarantine: Option<(&Path, &RecordBatch)>,
) -> liftos::Result<()> {
    let Some((q_path, q_table)) = quarantine else {
        return write_table_atomically(out, table);
    };
    let mut set_aside = TableWriter::create(q_path, q_table.schema())?;
    let mut writer = TableWriter::create(out, table.schema())?;
    set_aside.write(q_table)?;
    writer.write(table)?;
    set_aside.finish()?;
    writer.finish()?;
    Ok(())
}

/// Rows and spend per channel, sorted by channel.
fn per_channel(table: &RecordBatch) -> Vec<(String, usize, f64)> {
    let (Some(channel), Some(spend)) = (
        table.column_by_name("channel"),
        table.column_by_name("spend"),
    ) else {
        return Vec::new();
    };
    let (Some(channel), Some(spend)) = (
        channel.as_string_opt::<i32>(),
        spend.as_primitive_opt::<arrow::datatypes::Float64Type>(),
    ) else {
        return Vec::new();
    };
    let mut out: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
    for r in 0..table.num_rows() {
        let name = if channel.is_valid(r) {
            channel.value(r)
        } else {
            ""
        };
        let e = out.entry(name.to_owned()).or_default();
        e.0 += 1;
        if spend.is_valid(r) {
            e.1 += spend.value(r);
        }
    }
    out.into_iter().map(|(c, (n, s))| (c, n, s)).collect()
}

/// `--cluster` of `liftos unify`, `validate` and `clean`: the session whose executors
/// read the input files (`None`: no cluster; the files are read here).
fn reading_session(cluster: &ClusterArgs, stop: Stop) -> liftos::Result<Option<SqlSession>> {
    match cluster.cluster {
        Some(_) => session_for(cluster, stop).map(Some),
        None => Ok(None),
    }
}

/// Reads a table file as text (CSV columns as text, Parquet as it is): by the cluster's
/// executors when there is a session, else here by LiftOS's reader.
fn read_input(session: Option<&SqlSession>, path: &Path) -> liftos::Result<RecordBatch> {
    Ok(match session {
        Some(session) => session.read_file_as_text(path)?,
        None => read_table_with(path, &ReadOptions::text())?,
    })
}

/// The `--cluster` flag of `liftos unify`, `validate` and `clean`.
const ON_A_CLUSTER: &str = "Read the input files on an Apache Ballista cluster (`liftos \
    cluster`): its executors open and decode them (at their absolute paths), the rows come \
    back here whole and the step itself runs here, with the same result";

/// The `--cluster-timeout` flag.
const CLUSTER_TIMEOUT: &str = "Stop a cluster query that runs longer than SECS seconds: its \
    job is cancelled on the scheduler and the command fails saying so (default: no limit). \
    SIGINT, SIGTERM and SIGHUP cancel it too";

/// `--cluster-timeout SECS`: a positive number of seconds (fractions allowed).
pub(crate) fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 31_536_000.0) {
        return Err(format!(
            "`{s}`: the time limit must be more than 0 and at most a year of seconds"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A cluster to run on and how long its queries may take (`--cluster`,
/// `--cluster-timeout`), shared by `unify`, `validate`, `clean` and `sql`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    #[arg(long, value_name = "df://HOST:PORT", help = ON_A_CLUSTER)]
    cluster: Option<String>,
    #[arg(long, value_name = "SECS", requires = "cluster", value_parser = parse_timeout, help = CLUSTER_TIMEOUT)]
    cluster_timeout: Option<std::time::Duration>,
}

/// What stops a command's cluster queries (a signal): see [`super::stoppable`].
#[cfg(feature = "distributed")]
pub(crate) type Stop = Option<liftos::transform::QueryStopper>;
/// Without a cluster client nothing is stopped.
#[cfg(not(feature = "distributed"))]
pub(crate) type Stop = Option<std::convert::Infallible>;

/// Arguments of `liftos unify`.
#[derive(Debug, clap::Args)]
pub struct UnifyArgs {
    /// A source table as NAME=FILE (repeatable). NAME is the source: meta, google_ads,
    /// klaviyo, or one described in --mapping.
    #[arg(long = "input", value_name = "NAME=FILE", required_unless_present = "store", value_parser = parse_named_file)]
    inputs: Vec<NamedFile>,
    /// A store kept by `liftos sync`: every source is a table of its name (every stored
    /// row, today's partial day included).
    #[arg(long, value_name = "DIR", conflicts_with = "cluster")]
    store: Option<PathBuf>,
    /// Output file: `.csv` or `.parquet`.
    #[arg(long)]
    out: PathBuf,
    /// Source mappings as TOML, on top of the built-in meta/google_ads/klaviyo ones.
    #[arg(long, value_name = "FILE.toml")]
    mapping: Option<PathBuf>,
    /// Where rows that cannot be unified go (default: `<out stem>.quarantine.<ext>`,
    /// written when there are such rows, and header-only over a quarantine left there by
    /// an earlier run).
    #[arg(long)]
    quarantine: Option<PathBuf>,
    /// Currency of a source that has no currency column (e.g. a Klaviyo export), as an
    /// ISO 4217 code; noted in the output when used.
    #[arg(long, value_name = "CODE")]
    currency: Option<String>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Read, convert and write the sources piece by piece even when they are small
    /// (automatic from about 2.5 million rows, estimated): the same files, in bounded
    /// memory.
    #[arg(long, conflicts_with = "cluster")]
    in_parts: bool,
}

pub fn unify(args: UnifyArgs) -> liftos::Result<()> {
    super::stoppable(
        "liftos unify",
        args.cluster.cluster.is_some(),
        move |stop| unify_with(args, stop),
    )
}

fn unify_with(args: UnifyArgs, stop: Stop) -> liftos::Result<()> {
    let mut inputs: Vec<(&str, &Path)> = args
        .inputs
        .iter()
        .map(|i| ("--input", i.path.as_path()))
        .collect();
    if let Some(m) = &args.mapping {
        inputs.push(("--mapping", m));
    }
    let quarantine_path = checked_quarantine(&inputs, &args.out, args.quarantine.as_ref())?;
    let mut mapping = match &args.mapping {
        Some(path) => SchemaMapping::from_toml_file(path)?,
        None => SchemaMapping::default(),
    };
    // A store kept by `liftos sync`: each of its sources is one more input, read whole.
    let store = match &args.store {
        Some(dir) => Some(liftos::transform::store::Store::open(dir)?),
        None => None,
    };
    let store_names: Vec<String> = store
        .as_ref()
        .map(|s| s.sources().keys().cloned().collect())
        .unwrap_or_default();
    if let Some(code) = &args.currency {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(liftos::transform::Error::Config {
                key: "--currency".to_owned(),
                message: format!("`{code}` is not a three-letter ISO 4217 code (e.g. USD)"),
            }
            .into());
        }
        mapping = mapping
            .with_presets_for(
                args.inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .chain(store_names.iter().map(String::as_str)),
            )
            .with_default_currency(&code);
    }
    // Inputs larger than memory should hold at once are unified piece by piece, from
    // file to file (the same tables; one more pass over the files).
    let input_rows: usize = args
        .inputs
        .iter()
        .map(|i| estimated_rows(&i.path).unwrap_or(0))
        .sum();
    let session = reading_session(&args.cluster, stop)?;
    if store.is_none() && session.is_none() && (args.in_parts || input_rows >= UNIFY_PARTS_MIN_ROWS)
    {
        let sources: Vec<(&str, &Path)> = args
            .inputs
            .iter()
            .map(|i| (i.name.as_str(), i.path.as_path()))
            .collect();
        let done = unify_files(
            &sources,
            &mapping,
            &args.out,
            &quarantine_path,
            keep_empty_quarantine(args.quarantine.is_some(), &quarantine_path),
            UNIFY_BATCH_ROWS,
        )?;
        print_unified(
            &UnifySummary {
                rows_in: done.rows_in,
                sources: sources.len(),
                rows_out: done.rows_out,
                quarantined: done.quarantined,
                channels: done.channels,
                notes: &done.notes,
                quarantine_written: done.quarantine_written,
            },
            &args.out,
            &quarantine_path,
        );
        return Ok(());
    }
    // Text columns: the mapping parses numbers and dates itself, with per-row
    // quarantine instead of a whole-file type guess. The files are read at once.
    // On a cluster the executors read the files, one after the other; here they are
    // read at once.
    let paths: Vec<&Path> = args.inputs.iter().map(|i| i.path.as_path()).collect();
    let mut tables = match &session {
        Some(session) => paths
            .iter()
            .map(|p| read_input(Some(session), p))
            .collect::<liftos::Result<Vec<_>>>()?,
        None => read_tables_with(&paths, &ReadOptions::text())?,
    };
    let mut names: Vec<String> = args.inputs.iter().map(|i| i.name.clone()).collect();
    if let (Some(store), Some(dir)) = (&store, &args.store) {
        for name in &store_names {
            if names.contains(name) {
                return Err(liftos::transform::Error::Config {
                    key: "--store".to_owned(),
                    message: format!(
                        "source `{name}` is both an --input and a table of the store {}",
                        dir.display()
                    ),
                }
                .into());
            }
            tables.push(store.read(name)?);
            names.push(name.clone());
        }
    }
    let unified = unify_marketing_data(names.iter().zip(&tables), &mapping)?;
    let quarantined = unified.quarantine.num_rows();
    let quarantine_written =
        quarantined > 0 || keep_empty_quarantine(args.quarantine.is_some(), &quarantine_path);
    write_with_quarantine(
        &args.out,
        &unified.table,
        quarantine_written.then_some((quarantine_path.as_path(), &unified.quarantine)),
    )?;
    print_unified(
        &UnifySummary {
            rows_in: unified.rows_in(),
            sources: tables.len(),
            rows_out: unified.table.num_rows(),
            quarantined,
            channels: per_channel(&unified.table),
            notes: &unified.notes,
            quarantine_written,
        },
        &args.out,
        &quarantine_path,
    );
    Ok(())
}

/// Inputs of `liftos validate` and `clean` from this many rows on (estimated:
/// [`estimated_rows`]) are worked on piece by piece ([`validate_file`], [`clean_file`]),
/// in bounded memory; below, the whole table is read at once (faster; `clean` peaked at
/// 643–648 MB on 3M rows of `benches/transform_vs_peers.py`, so about 1.1 GB at this
/// size). `liftos unify` reads its sources in pieces from fewer rows
/// ([`UNIFY_PARTS_MIN_ROWS`]).
const PARTS_MIN_ROWS: usize = 5_000_000;

/// `liftos unify`'s sources of this many rows in all on (estimated: [`estimated_rows`],
/// about 1.8M of `benches/transform_vs_peers.py`'s raw rows, whose CSV lines average 88
/// bytes) are read piece by piece ([`unify_files`]): from about 2M rows the pieces take as
/// long as reading each source whole, in a third of the memory or less. The benchmark's raw
/// rows (release build on mimalloc, 2026-12-07, each size's two paths alternated three
/// times, wall time and peak RSS; on the system allocator the pieces took 204–209 MB at
/// 3M): 300k rows whole 0.32–0.39 s, 162–166 MB, in pieces 0.44–0.48 s, 175–184
/// MB; 1M whole 0.95–1.04 s, 397–419 MB, in pieces 1.12–1.24 s, 260–283 MB; 2M whole
/// 1.83–2.01 s, 641–705 MB, in pieces 1.83–2.13 s, 254–267 MB; 3M whole 2.97–3.35 s,
/// 940–1,042 MB, in pieces 2.99–3.19 s, 263–285 MB. `validate` and `clean` keep
/// [`PARTS_MIN_ROWS`]: their parts are slower below it (3M rows: `clean` 2.24–2.30 s whole,
/// 3.03–3.59 s in parts, for 0.8 against 0.6 GB).
const UNIFY_PARTS_MIN_ROWS: usize = 2_500_000;

/// What `liftos unify` prints.
struct UnifySummary<'a> {
    rows_in: usize,
    sources: usize,
    rows_out: usize,
    quarantined: usize,
    channels: Vec<(String, usize, f64)>,
    notes: &'a [String],
    quarantine_written: bool,
}

fn print_unified(u: &UnifySummary<'_>, out: &Path, quarantine_path: &Path) {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Unified {} rows from {} source(s) into {} rows ({} quarantined)",
        u.rows_in, u.sources, u.rows_out, u.quarantined
    );
    for (channel, rows, spend) in &u.channels {
        let _ = writeln!(s, "  {channel:<12} {rows:>8} rows  spend {spend:>14.2}");
    }
    for note in u.notes {
        let _ = writeln!(s, "note: {note}");
    }
    let _ = write!(s, "Wrote {}", out.display());
    if u.quarantine_written {
        let _ = write!(s, " and {}", quarantine_path.display());
    }
    println!("{s}");
}

/// Arguments of `liftos validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// A unified table (`.csv` or `.parquet`).
    #[arg(long)]
    input: PathBuf,
    /// Rules as TOML (required fields, ranges, allowed values, built-in checks, ...).
    #[arg(long, value_name = "FILE.toml")]
    rules: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Validate part by part (campaign series) even when the table is small (automatic
    /// from about 5 million rows): the same report, in bounded memory.
    #[arg(long, conflicts_with = "cluster")]
    in_parts: bool,
}

pub fn validate(args: ValidateArgs) -> liftos::Result<()> {
    super::stoppable(
        "liftos validate",
        args.cluster.cluster.is_some(),
        move |stop| {
            let input = args.input.display().to_string();
            validate_with(args, stop).map_err(|e| naming_input(e, &input))
        },
    )
}

/// A transform error about the table read from `input`, naming the file instead of
/// `table`.
fn naming_input(e: liftos::Error, input: &str) -> liftos::Error {
    match e {
        liftos::Error::Transform(t) => liftos::Error::Transform(t.in_table(input)),
        other => other,
    }
}

fn validate_with(args: ValidateArgs, stop: Stop) -> liftos::Result<()> {
    let mut inputs: Vec<(&str, &Path)> = vec![("--input", &args.input)];
    if let Some(r) = &args.rules {
        inputs.push(("--rules", r));
    }
    if let Some(json) = &args.json {
        check_distinct_files(&inputs, &[("--json", json)])?;
    }
    let rules = match &args.rules {
        Some(path) => QualityRules::from_toml_file(path)?,
        None => QualityRules::default(),
    };
    // A large table is validated part by part (campaign series): the same report.
    // On a cluster the executors read the table; it is validated here, whole.
    let session = reading_session(&args.cluster, stop)?;
    let input_rows = estimated_rows(&args.input).unwrap_or(0);
    let report = if session.is_none() && (args.in_parts || input_rows >= PARTS_MIN_ROWS) {
        validate_file(&args.input, &[], &rules, CLEAN_PART_ROWS)?
    } else {
        let table = read_input(session.as_ref(), &args.input)?;
        validate_data_quality(&table, &[], &rules)?
    };
    if let Some(path) = &args.json {
        let json = report.to_json()?;
        write_bytes_atomically(path, json.as_bytes())?;
    }
    print!("{}: {report}", args.input.display());
    if let Some(path) = &args.json {
        println!("Wrote {}", path.display());
    }
    Ok(())
}

/// Arguments of `liftos clean`.
#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// A unified table (`.csv` or `.parquet`).
    #[arg(long)]
    input: PathBuf,
    /// Output file: `.csv` or `.parquet`.
    #[arg(long)]
    out: PathBuf,
    /// Comma-separated fixes: remove_duplicates, normalize_campaign_names,
    /// standardize_currency, fill_missing_dates. Default: all but standardize_currency,
    /// plus standardize_currency when --rates is given.
    #[arg(long, value_name = "LIST")]
    fix: Option<String>,
    /// Where unusable rows go, each with its reason (default: `<out stem>.quarantine.<ext>`,
    /// written when there are such rows, and header-only over a quarantine left there by
    /// an earlier run).
    #[arg(long)]
    quarantine: Option<PathBuf>,
    /// Exchange rates for standardize_currency: a table with columns date, currency, rate
    /// (units of --currency per unit of `currency`).
    #[arg(long)]
    rates: Option<PathBuf>,
    /// Reporting currency of standardize_currency.
    #[arg(long, default_value = "USD")]
    currency: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Clean part by part (campaign series) even when the table is small (automatic from
    /// about 5 million rows): the same files, in bounded memory.
    #[arg(long, conflicts_with = "cluster")]
    in_parts: bool,
}

pub fn clean(args: CleanArgs) -> liftos::Result<()> {
    super::stoppable(
        "liftos clean",
        args.cluster.cluster.is_some(),
        move |stop| {
            let input = args.input.display().to_string();
            clean_with(args, stop).map_err(|e| naming_input(e, &input))
        },
    )
}

fn clean_with(args: CleanArgs, stop: Stop) -> liftos::Result<()> {
    let mut inputs: Vec<(&str, &Path)> = vec![("--input", &args.input)];
    if let Some(r) = &args.rates {
        inputs.push(("--rates", r));
    }
    let quarantine_path = checked_quarantine(&inputs, &args.out, args.quarantine.as_ref())?;
    let conversion = match &args.rates {
        Some(path) => {
            let rates = RateTable::from_batch(&read_table_with(path, &ReadOptions::text())?)
                .map_err(|e| in_file(path, e))?;
            Some(CurrencyConversion::new(args.currency.as_str(), rates))
        }
        None => None,
    };
    let fixes = match &args.fix {
        Some(list) => Fixes::from_list(list, conversion).map_err(|e| match e {
            liftos::transform::Error::Config { message, .. } => {
                liftos::Error::Transform(liftos::transform::Error::Config {
                    key: "--fix".to_owned(),
                    message: if message.contains("rates table") {
                        format!("{message}: pass --rates FILE (and --currency)")
                    } else {
                        message
                    },
                })
            }
            other => other.into(),
        })?,
        None => match conversion {
            Some(c) => Fixes::all(c),
            None => Fixes::default(),
        },
    };
    // A date after tomorrow (UTC; account time zones run up to a day ahead) is a typo
    // or a placeholder: quarantined, never filled up to.
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let fixes = fixes.with_latest_date(tomorrow);
    // A large table is cleaned part by part (campaign series), the parts put back in
    // order by a sort that spills to disk: the same files.
    // On a cluster the executors read the table; it is cleaned here, whole.
    let session = reading_session(&args.cluster, stop)?;
    let input_rows = estimated_rows(&args.input).unwrap_or(0);
    let keep_empty = keep_empty_quarantine(args.quarantine.is_some(), &quarantine_path);
    let done = if session.is_none() && (args.in_parts || input_rows >= PARTS_MIN_ROWS) {
        clean_file(
            &args.input,
            &fixes,
            &args.out,
            &quarantine_path,
            keep_empty,
            CLEAN_PART_ROWS,
        )?
    } else {
        // The table is read whole; its clean is written range by range, never held
        // whole beside it.
        let table = read_input(session.as_ref(), &args.input)?;
        clean_to_file(&table, &fixes, &args.out, &quarantine_path, keep_empty)?
    };
    print_cleaned(&CleanSummary {
        change_log: &done.change_log,
        accounting: done.accounting(),
        input_totals: done.input_totals,
        output_totals: done.output_totals,
        notes: &done.notes,
        out: &args.out,
        quarantine: done.quarantine_written.then_some(quarantine_path.as_path()),
    });
    Ok(())
}

/// What `liftos clean` prints.
struct CleanSummary<'a> {
    change_log: &'a [liftos::transform::Change],
    accounting: liftos::transform::RowAccounting,
    input_totals: (f64, f64),
    output_totals: (f64, f64),
    notes: &'a [String],
    out: &'a Path,
    quarantine: Option<&'a Path>,
}

fn print_cleaned(c: &CleanSummary<'_>) {
    let a = &c.accounting;
    let mut s = String::new();
    let _ = writeln!(s, "Changes:");
    if c.change_log.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for c in c.change_log {
        let action = serde_json::to_value(c.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:<26} {:<11} {:>8} rows  {}",
            c.fix, action, c.rows_affected, c.detail
        );
    }
    let _ = writeln!(
        s,
        "Rows: {} in = {} out − {} filled + {} quarantined + {} duplicates dropped{}",
        a.rows_in,
        a.rows_out,
        a.filled,
        a.quarantined,
        a.dropped_duplicates,
        if a.balances() {
            ""
        } else {
            " (DOES NOT BALANCE)"
        }
    );
    let _ = writeln!(
        s,
        "Spend {:.2} → {:.2}, revenue {:.2} → {:.2}",
        c.input_totals.0, c.output_totals.0, c.input_totals.1, c.output_totals.1,
    );
    for note in c.notes {
        let _ = writeln!(s, "note: {note}");
    }
    let _ = write!(s, "Wrote {}", c.out.display());
    if let Some(q) = c.quarantine {
        let _ = write!(s, " and {}", q.display());
    }
    println!("{s}");
}

/// Names `path` in a transform error that does not already name a file.
fn in_file(path: &Path, e: liftos::transform::Error) -> liftos::Error {
    match e {
        liftos::transform::Error::Config { key, message } => {
            liftos::Error::Transform(liftos::transform::Error::Config {
                key: format!("{} {key}", path.display()),
                message,
            })
        }
        liftos::transform::Error::MissingColumn { column, .. } => {
            liftos::Error::Transform(liftos::transform::Error::MissingColumn {
                table: path.display().to_string(),
                column,
            })
        }
        other => other.into(),
    }
}

/// Arguments of `liftos sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// A table as NAME=FILE (repeatable); the query refers to it as NAME.
    #[arg(long = "input", value_name = "NAME=FILE", required_unless_present = "store", value_parser = parse_named_file)]
    inputs: Vec<NamedFile>,
    /// A store kept by `liftos sync`: every source is a table of its name (every stored
    /// row, today's partial day included).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// The query.
    query: String,
    /// Also write the result to this file (`.csv` or `.parquet`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows printed to the terminal (the count covers every row; `--out` writes them all).
    #[arg(long, default_value_t = 20)]
    show: usize,
    /// Run the query on an Apache Ballista cluster (`liftos cluster`): its executors read
    /// the --input files at their absolute paths (one machine or a shared mount).
    #[arg(long, value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    #[arg(long, value_name = "SECS", requires = "cluster", value_parser = parse_timeout, help = CLUSTER_TIMEOUT)]
    cluster_timeout: Option<std::time::Duration>,
}

/// The session of `liftos sql`: in this process, or on the `--cluster`, its queries
/// limited to `--cluster-timeout` and stopped by `stop`.
#[cfg(feature = "distributed")]
fn session_for(cluster: &ClusterArgs, stop: Stop) -> liftos::Result<SqlSession> {
    match &cluster.cluster {
        None => Ok(SqlSession::new()?),
        Some(url) => {
            let mut session = SqlSession::remote(&url.parse()?)?;
            if let Some(limit) = cluster.cluster_timeout {
                session = session.with_time_limit(limit);
            }
            if let Some(stop) = stop {
                session = session.with_stopper(stop);
            }
            Ok(session)
        }
    }
}

/// The session of `liftos sql`: this build has no cluster client.
#[cfg(not(feature = "distributed"))]
fn session_for(cluster: &ClusterArgs, _stop: Stop) -> liftos::Result<SqlSession> {
    match &cluster.cluster {
        None => Ok(SqlSession::new()?),
        Some(_) => Err(liftos::transform::Error::Config {
            key: "--cluster".to_owned(),
            message: "this liftos was built without the `distributed` cargo feature".to_owned(),
        }
        .into()),
    }
}

pub fn sql(args: SqlArgs) -> liftos::Result<()> {
    super::stoppable("liftos sql", args.cluster.is_some(), move |stop| {
        sql_with(args, stop)
    })
}

/// `--out` must not be a file of the store `--store` reads: the store's files are its own
/// (a query's result written over a committed table destroyed the store).
fn check_outside_store(out: &Path, store: &Path) -> liftos::Result<()> {
    let Ok(store) = std::fs::canonicalize(store) else {
        return Ok(());
    };
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let inside = std::fs::canonicalize(parent).is_ok_and(|p| p.starts_with(&store));
    if inside {
        return Err(liftos::Error::Io {
            path: out.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "--out is inside the store {} (--store), whose files are its own; write \
                     the result elsewhere (nothing was written)",
                    store.display()
                ),
            ),
        });
    }
    Ok(())
}

fn sql_with(args: SqlArgs, stop: Stop) -> liftos::Result<()> {
    if let Some(out) = &args.out {
        let inputs: Vec<(&str, &Path)> = args
            .inputs
            .iter()
            .map(|i| ("--input", i.path.as_path()))
            .collect();
        check_distinct_files(&inputs, &[("--out", out)])?;
        if let Some(dir) = &args.store {
            check_outside_store(out, dir)?;
        }
    }
    if let (Some(_), Some(url)) = (&args.store, &args.cluster) {
        return Err(liftos::transform::Error::Config {
            key: "--store".to_owned(),
            message: format!(
                "store tables are read into this process's memory, which the executors of \
                 `{url}` cannot see; export them (`liftos sql --store DIR 'SELECT * FROM NAME' \
                 --out NAME.parquet`) and pass --input NAME=NAME.parquet"
            ),
        }
        .into());
    }
    let cluster = ClusterArgs {
        cluster: args.cluster.clone(),
        cluster_timeout: args.cluster_timeout,
    };
    let session = session_for(&cluster, stop)?;
    if let Some(dir) = &args.store {
        let store = liftos::transform::store::Store::open(dir)?;
        for name in store.sources().keys() {
            session.register_batch(name, store.read(name)?)?;
        }
    }
    for (i, input) in args.inputs.iter().enumerate() {
        // The engine folds unquoted table names to lower case: `Meta` is `meta`.
        if let Some(first) = args.inputs[..i]
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&input.name))
        {
            return Err(liftos::transform::Error::Config {
                key: "--input".to_owned(),
                message: format!(
                    "the table name `{}` is given twice ({} and {}); give each --input its own NAME",
                    input.name,
                    first.path.display(),
                    input.path.display()
                ),
            }
            .into());
        }
        if args.store.is_some()
            && session
                .table_names()
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&input.name))
        {
            return Err(liftos::transform::Error::Config {
                key: "--input".to_owned(),
                message: format!(
                    "the table name `{}` is both an --input and a source of the store; give the --input another NAME",
                    input.name
                ),
            }
            .into());
        }
    }
    for input in &args.inputs {
        session.register_file(&input.name, &input.path)?;
    }
    // The result streams: counted, its first `--show` rows kept for printing (formatting
    // millions of rows as a text table takes longer and far more memory than the query),
    // and written to `--out` batch by batch; memory holds a batch, not the result.
    let (mut rows, mut kept, mut head) = (0usize, 0usize, Vec::new());
    let mut writer: Option<liftos::transform::TableWriter> = None;
    let schema = session.sql_each(&args.query, |batch| {
        rows += batch.num_rows();
        if kept < args.show && batch.num_rows() > 0 {
            let take = batch.num_rows().min(args.show - kept);
            head.push(batch.slice(0, take));
            kept += take;
        }
        if let Some(out) = &args.out {
            if writer.is_none() {
                writer = Some(liftos::transform::TableWriter::create(out, batch.schema())?);
            }
            if let Some(w) = writer.as_mut() {
                w.write(batch)?;
            }
        }
        Ok(())
    })?;
    if let Some(out) = &args.out {
        let w = match writer {
            Some(w) => w,
            None => liftos::transform::TableWriter::create(out, schema.clone())?,
        };
        w.finish()?;
    }
    let head = if head.is_empty() {
        vec![arrow::array::RecordBatch::new_empty(schema)]
    } else {
        head
    };
    println!("{}", liftos::transform::pretty_format(&head)?);
    print!("{rows} row(s)");
    if kept < rows {
        print!(" (the first {kept} shown; --show N prints more)");
    }
    match &args.out {
        Some(out) => println!(", written to {}", out.display()),
        None if kept < rows => println!("; --out FILE writes them all"),
        None => println!(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_files_parse_and_bad_ones_say_why() {
        let f = parse_named_file("google_ads=data/g.csv").unwrap();
        assert_eq!(f.name, "google_ads");
        assert_eq!(f.path, Path::new("data/g.csv"));
        let f = parse_named_file("x=a=b.csv").unwrap();
        assert_eq!(f.path, Path::new("a=b.csv"), "only the first `=` splits");
        for bad in ["meta.csv", "=meta.csv", "meta=", "my source=x.csv"] {
            let err = parse_named_file(bad).unwrap_err();
            assert!(err.contains("NAME") || err.contains("FILE"), "{bad}: {err}");
        }
    }

    /// The commands as `liftos <args>` parses them (the tests run them in-process:
    /// the integration tests' files belong to other commands).
    #[derive(Debug, clap::Parser)]
    enum Cmd {
        Unify(UnifyArgs),
        Clean(CleanArgs),
        Sql(SqlArgs),
    }

    fn run(args: &[&str]) -> liftos::Result<()> {
        use clap::Parser as _;
        match Cmd::try_parse_from(std::iter::once("liftos").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        {
            Cmd::Unify(a) => unify_with(a, None),
            Cmd::Clean(a) => clean_with(a, None),
            Cmd::Sql(a) => sql_with(a, None),
        }
    }

    const UNIFIED_HEADER: &str = "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue";

    /// A unified CSV of three days of one campaign, the second with spend `abc`.
    fn unified_with_a_bad_row(dir: &Path) -> PathBuf {
        let path = dir.join("u.csv");
        std::fs::write(
            &path,
            format!(
                "{UNIFIED_HEADER}\n\
                 2024-01-01,meta,a,c1,A,,USD,10,100,3,1,20\n\
                 2024-01-02,meta,a,c1,A,,USD,abc,100,3,1,20\n\
                 2024-01-03,meta,a,c1,A,,USD,12,100,3,1,20\n"
            ),
        )
        .unwrap();
        path
    }

    /// A Meta export of two rows, the second with spend `abc`.
    fn meta_with_a_bad_row(dir: &Path) -> PathBuf {
        let path = dir.join("meta.csv");
        std::fs::write(
            &path,
            "date_start,account_id,account_currency,campaign_id,campaign_name,spend,impressions,clicks,conversions,conversion_values\n\
             2024-01-01,a,USD,1,x,10,100,3,1,20\n\
             2024-01-02,a,USD,1,x,abc,100,3,1,20\n",
        )
        .unwrap();
        path
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    #[test]
    fn a_quarantine_that_cannot_be_written_leaves_out_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let unified = unified_with_a_bad_row(d);
        let meta = format!("meta={}", meta_with_a_bad_row(d).display());
        let out = d.join("out.csv");
        std::fs::write(&out, "old\n").unwrap();
        let a_dir = d.join("a_dir.csv");
        std::fs::create_dir(&a_dir).unwrap();
        let bad_quarantines = [
            (a_dir.clone(), "is a directory"),
            (d.join("q.txt"), "expected a .csv or .parquet extension"),
            (d.join("missing").join("q.csv"), "does not exist"),
        ];
        for in_parts in [false, true] {
            for (q, why) in &bad_quarantines {
                let (out_s, q_s) = (out.display().to_string(), q.display().to_string());
                let u = unified.display().to_string();
                let mut clean = vec![
                    "clean",
                    "--input",
                    &u,
                    "--out",
                    &out_s,
                    "--quarantine",
                    &q_s,
                ];
                let mut unify = vec![
                    "unify",
                    "--input",
                    &meta,
                    "--out",
                    &out_s,
                    "--quarantine",
                    &q_s,
                ];
                if in_parts {
                    clean.push("--in-parts");
                    unify.push("--in-parts");
                }
                for args in [clean, unify] {
                    let err = run(&args).unwrap_err().to_string();
                    assert!(
                        err.contains(&q_s) && err.contains("--quarantine") && err.contains(why),
                        "{args:?}: {err}"
                    );
                    assert_eq!(
                        std::fs::read_to_string(&out).unwrap(),
                        "old\n",
                        "{args:?}: --out replaced"
                    );
                }
            }
        }
        // An --out that cannot be written is refused alike, before any work.
        let q = d.join("q.csv");
        let err = run(&[
            "clean",
            "--input",
            &unified.display().to_string(),
            "--out",
            &a_dir.display().to_string(),
            "--quarantine",
            &q.display().to_string(),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--out") && err.contains("is a directory"),
            "{err}"
        );
        assert!(!q.exists());
        let names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn a_stale_quarantine_is_replaced_so_rows_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let bad = unified_with_a_bad_row(d);
        let good = d.join("good.csv");
        std::fs::write(
            &good,
            format!("{UNIFIED_HEADER}\n2024-01-01,meta,a,c1,A,,USD,10,100,3,1,20\n"),
        )
        .unwrap();
        let out = d.join("c.csv");
        let q = d.join("c.quarantine.csv");
        let (out_s, bad_s, good_s) = (
            out.display().to_string(),
            bad.display().to_string(),
            good.display().to_string(),
        );
        for in_parts in [false, true] {
            let with = |input: &str| {
                let mut a = vec!["clean", "--input", input, "--out", &out_s];
                if in_parts {
                    a.push("--in-parts");
                }
                run(&a).unwrap();
            };
            // The default quarantine (next to --out): written when there are rows ...
            with(&bad_s);
            assert_eq!((lines(&out), lines(&q)), (3, 2), "in parts: {in_parts}");
            // ... and header-only over the earlier run's, when there are none.
            with(&good_s);
            assert_eq!((lines(&out), lines(&q)), (2, 1), "in parts: {in_parts}");
            std::fs::remove_file(&q).unwrap();
            // Without an earlier one, none is written (as before).
            with(&good_s);
            assert!(!q.exists());
        }
        // unify alike.
        let meta = format!("meta={}", meta_with_a_bad_row(d).display());
        let good_meta = d.join("good_meta.csv");
        std::fs::write(
            &good_meta,
            "date_start,account_id,account_currency,campaign_id,campaign_name,spend,impressions,clicks,conversions,conversion_values\n\
             2024-01-01,a,USD,1,x,10,100,3,1,20\n",
        )
        .unwrap();
        let good_meta = format!("meta={}", good_meta.display());
        let uq = d.join("u.quarantine.csv");
        let u_out = d.join("u.csv").display().to_string();
        run(&["unify", "--input", &meta, "--out", &u_out]).unwrap();
        assert_eq!(lines(&uq), 2);
        run(&["unify", "--input", &good_meta, "--out", &u_out]).unwrap();
        assert_eq!(lines(&uq), 1);
    }

    #[test]
    fn sql_refuses_a_table_name_given_twice_and_statements_that_write() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (a, b) = (d.join("a.csv"), d.join("b.csv"));
        std::fs::write(&a, "x\n1\n").unwrap();
        std::fs::write(&b, "x\n2\n").unwrap();
        let (ta, tb) = (format!("t={}", a.display()), format!("T={}", b.display()));
        let err = run(&["sql", "--input", &ta, "--input", &tb, "SELECT * FROM t"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`T` is given twice") && err.contains("a.csv") && err.contains("b.csv"),
            "{err}"
        );
        // COPY ... TO an input is refused; the input is intact.
        let copy = format!("COPY (SELECT 1 AS x) TO '{}' STORED AS CSV", a.display());
        let err = run(&["sql", "--input", &ta, &copy])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("only a query") && err.contains("--out"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "x\n1\n");
        run(&[
            "sql",
            "--input",
            &ta,
            "--input",
            &format!("u={}", b.display()),
            "SELECT * FROM t, u",
        ])
        .unwrap();
    }

    /// The result streams through: all of its rows counted and written to `--out` in
    /// order, the first `--show` printed, also when it spans many batches.
    #[test]
    fn sql_streams_its_result_to_out() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.csv");
        std::fs::write(&one, "x\n1\n").unwrap();
        let out = dir.path().join("r.parquet");
        let input = format!("t={}", one.display());
        let query = "SELECT value FROM range(100000) ORDER BY value DESC";
        let out_s = out.display().to_string();
        run(&[
            "sql", "--input", &input, query, "--show", "2", "--out", &out_s,
        ])
        .unwrap();
        let table = liftos::transform::read_table(&out).unwrap();
        assert_eq!(table.num_rows(), 100_000);
        let v = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(
            table.column(0).as_ref(),
        );
        assert_eq!((v.value(0), v.value(99_999)), (99_999, 0));
        // An empty result still writes its header.
        let empty = dir.path().join("e.csv");
        let empty_s = empty.display().to_string();
        run(&[
            "sql",
            "--input",
            &input,
            "SELECT x FROM t WHERE x > 5",
            "--out",
            &empty_s,
        ])
        .unwrap();
        assert_eq!(std::fs::read_to_string(&empty).unwrap(), "x\n");
    }

    /// A result written into the store would replace a committed table's file.
    #[test]
    fn sql_refuses_an_output_inside_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("st").join("data");
        std::fs::create_dir_all(&data).unwrap();
        let table = data.join("meta-1.parquet");
        std::fs::write(&table, "committed").unwrap();
        let st = dir.path().join("st").display().to_string();
        let out = table.display().to_string();
        let err = run(&["sql", "--store", &st, "SELECT 1 AS x", "--out", &out])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--out is inside the store"), "{err}");
        assert_eq!(std::fs::read_to_string(&table).unwrap(), "committed");
    }

    #[test]
    fn the_quarantine_goes_next_to_the_output() {
        assert_eq!(
            quarantine_next_to(Path::new("out/clean.parquet")),
            Path::new("out/clean.quarantine.parquet")
        );
        assert_eq!(
            quarantine_next_to(Path::new("u.csv")),
            Path::new("u.quarantine.csv")
        );
    }
}
