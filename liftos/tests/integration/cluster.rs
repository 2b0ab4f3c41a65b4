//! `liftos cluster` and `liftos sql --cluster`: a real Ballista scheduler and two
//! executors (child processes) on loopback, queried by the `liftos` binary.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::liftos;

/// A running `liftos cluster`; dropping it stops the cluster (SIGTERM, then SIGKILL), so
/// a failing test leaves no process behind.
struct Cluster {
    child: Child,
    url: String,
    port: u16,
    lines: mpsc::Receiver<String>,
    /// Every line the cluster printed so far.
    seen: Vec<String>,
}

impl Cluster {
    /// Starts `liftos cluster --executors N --vcores 1` on a free loopback port and waits
    /// (at most two minutes) for its `ready` line. One task slot each: a stage of several
    /// partitions then runs on every executor, whatever the machine's cores.
    fn start(executors: u16, work_dir: &Path) -> Cluster {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = liftos()
            .args(["cluster", "--executors", &executors.to_string()])
            .args(["--port", &port.to_string(), "--vcores", "1"])
            .arg("--work-dir")
            .arg(work_dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut cluster = Cluster {
            child,
            url: format!("df://127.0.0.1:{port}"),
            port,
            lines,
            seen: Vec::new(),
        };
        cluster.wait_for("ready", Duration::from_secs(120));
        cluster
    }

    /// Waits for a line starting with `prefix` and returns it; panics with everything
    /// printed so far after `timeout` or when the cluster ends first.
    fn wait_for(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no `{prefix}` line from liftos cluster ({e:?}); it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// SIGTERM, then the exit status (SIGKILL after 30 s).
    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// 4 000 rows of daily campaign data. Spend is a multiple of 0.25, so every sum is exact
/// whatever order the executors add the rows in.
fn write_events(path: &Path) {
    let channels = ["meta", "google_ads", "klaviyo", "tiktok"];
    let mut csv = String::from("date,channel,campaign,spend,clicks\n");
    for i in 0..4000u32 {
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
            + chrono::Days::new(u64::from(i % 90));
        csv.push_str(&format!(
            "{day},{},c{},{},{}\n",
            channels[(i % 4) as usize],
            i % 13,
            f64::from((i * 37) % 1000) * 0.25,
            (i * 7) % 50
        ));
    }
    std::fs::write(path, csv).unwrap();
}

const QUERY: &str = "SELECT channel, campaign, count(*) AS days, sum(spend) AS spend, \
                     sum(clicks) AS clicks, min(date) AS first_day, max(date) AS last_day \
                     FROM events GROUP BY channel, campaign ORDER BY channel, campaign";

fn sql(dir: &Path, extra: &[&str], out: &str) -> Output {
    liftos()
        .current_dir(dir)
        .args([
            "sql",
            "--input",
            "events=events.csv",
            "--show",
            "100",
            "--out",
            out,
        ])
        .args(extra)
        .arg(QUERY)
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The jobs an executor ran a task of: the directories of their shuffle files under its
/// work dir (DataFusion's own `datafusion-*` spill directory left out).
fn jobs_run(work_dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(work_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("datafusion-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sql_on_a_two_executor_cluster_gives_the_local_result() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    write_events(&dir.path().join("events.csv"));
    let mut cluster = Cluster::start(2, &work);
    // The scheduler's own count, from its /readyz.
    assert!(
        cluster.seen.iter().any(|l| l.starts_with("ready:")
            && l.contains(&cluster.url)
            && l.contains("2 executors registered")),
        "{:?}",
        cluster.seen
    );
    assert_eq!(
        cluster
            .seen
            .iter()
            .filter(|l| l.starts_with("executor "))
            .count(),
        2,
        "{:?}",
        cluster.seen
    );
    let executor_dirs = [work.join("executor-1"), work.join("executor-2")];
    assert!(
        executor_dirs.iter().all(|d| jobs_run(d).is_empty()),
        "no job before the query"
    );

    let local = sql(dir.path(), &[], "local.csv");
    let (local_out, local_err) = text(&local);
    assert!(local.status.success(), "{local_out}\n{local_err}");
    // A relative --input path: the executors get it made absolute.
    let remote = sql(dir.path(), &["--cluster", &cluster.url], "remote.csv");
    let (remote_out, remote_err) = text(&remote);
    assert!(remote.status.success(), "{remote_out}\n{remote_err}");

    // Identical tables, printed and written.
    assert_eq!(
        remote_out.replace("remote.csv", "OUT"),
        local_out.replace("local.csv", "OUT")
    );
    assert!(local_out.contains("52 row(s)"), "{local_out}");
    assert!(
        local_out.contains("| google_ads | c0       |"),
        "{local_out}"
    );
    let local_csv = std::fs::read_to_string(dir.path().join("local.csv")).unwrap();
    let remote_csv = std::fs::read_to_string(dir.path().join("remote.csv")).unwrap();
    assert_eq!(remote_csv, local_csv);
    assert_eq!(local_csv.lines().count(), 53);

    // The query really ran on the cluster, on both executors: each left shuffle files of
    // the one job in its work directory.
    let (one, two) = (jobs_run(&executor_dirs[0]), jobs_run(&executor_dirs[1]));
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one, two);

    // SIGTERM stops the cluster and its parts: the scheduler's port closes.
    let status = cluster.stop();
    assert!(status.success(), "{status}");
    cluster.wait_for("stopped by SIGTERM", Duration::from_secs(5));
    let scheduler = SocketAddr::from(([127, 0, 0, 1], cluster.port));
    assert!(TcpStream::connect_timeout(&scheduler, Duration::from_secs(1)).is_err());
    let after = sql(dir.path(), &["--cluster", &cluster.url], "after.csv");
    let (_, after_err) = text(&after);
    assert!(!after.status.success());
    assert!(
        after_err.contains("cannot reach the scheduler"),
        "{after_err}"
    );
}

#[test]
fn cluster_mistakes_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write_events(&dir.path().join("events.csv"));
    let free_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = format!("df://127.0.0.1:{free_port}");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec![
                "sql",
                "--input",
                "events=events.csv",
                "--cluster",
                "http://127.0.0.1:50050",
                "SELECT 1",
            ],
            vec![
                "cluster `http://127.0.0.1:50050`",
                "scheme is `http`",
                "df://HOST:PORT",
            ],
        ),
        (
            vec![
                "sql",
                "--input",
                "events=events.csv",
                "--cluster",
                "df://",
                "SELECT 1",
            ],
            vec!["no host", "df://HOST:PORT"],
        ),
        (
            vec![
                "sql",
                "--input",
                "events=events.csv",
                "--cluster",
                &nobody,
                "SELECT 1",
            ],
            vec![&nobody, "cannot reach the scheduler"],
        ),
        (
            vec!["sql", "--store", "store", "--cluster", &nobody, "SELECT 1"],
            vec!["--store", "executors"],
        ),
        (
            vec![
                "unify",
                "--input",
                "meta=events.csv",
                "--out",
                "u.csv",
                "--cluster",
                &nobody,
            ],
            vec!["--cluster", "liftos unify", "not a DataFusion plan"],
        ),
        (
            vec!["validate", "--input", "events.csv", "--cluster", &nobody],
            vec!["liftos validate", "not a DataFusion plan"],
        ),
        (
            vec![
                "clean",
                "--input",
                "events.csv",
                "--out",
                "c.csv",
                "--cluster",
                &nobody,
            ],
            vec!["liftos clean", "not a DataFusion plan"],
        ),
    ];
    for (args, expected) in cases {
        let output = liftos()
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert!(!output.status.success(), "{args:?}: {stdout}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{args:?}: `{e}` not in {stderr}");
        }
    }
    // Nothing was written by the refused commands.
    assert!(!dir.path().join("u.csv").exists() && !dir.path().join("c.csv").exists());
    // The executor count is bounded.
    for n in ["0", "65"] {
        let output = liftos()
            .args([
                "cluster",
                "--executors",
                n,
                "--port",
                &free_port.to_string(),
            ])
            .output()
            .unwrap();
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{n}: {stderr}");
        assert!(
            stderr.contains("--executors") && stderr.contains("1..=64"),
            "{n}: {stderr}"
        );
    }
}
