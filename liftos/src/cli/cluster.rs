//! `liftos cluster`: an Apache Ballista scheduler and executors (feature `distributed`).
//!
//! `liftos cluster --executors N --port P` runs one scheduler and N executors on this
//! machine, each a child process of this binary (`liftos cluster scheduler` and
//! `liftos cluster executor`, the same commands that run the parts of a real cluster on
//! several machines): the parts talk over TCP exactly as they would across machines,
//! and a crashed executor does not take the scheduler down. The parent prints a line
//! starting with `ready` once the scheduler's `/readyz` says all N executors have
//! registered, and stops its children on SIGINT, SIGTERM or SIGHUP. Each child watches a
//! pipe from the parent and stops when it closes, so no part outlives a killed parent.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use liftos::transform::ClusterUrl;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Arguments of `liftos cluster`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    part: Option<Part>,
    #[command(flatten)]
    local: LocalArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Part {
    /// Run a Ballista scheduler (one per cluster); executors and `--cluster` clients
    /// connect to it.
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor that registers with a scheduler and runs query stages.
    Executor(ExecutorArgs),
}

/// The log level every part of a cluster takes (listed last in the help; a local
/// cluster passes it to each part).
#[derive(Debug, clap::Args)]
struct Logging {
    /// Log level of the messages on stderr: error, warn, info, debug or trace.
    #[arg(long, default_value = "warn", value_parser = parse_level, display_order = 900)]
    log_level: log::LevelFilter,
}

/// A scheduler and N executors on this machine.
#[derive(Debug, clap::Args)]
struct LocalArgs {
    #[command(flatten)]
    log: Logging,
    /// Number of executors (each a process).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    executors: u16,
    /// The scheduler's port; clients use `--cluster df://HOST:PORT`.
    #[arg(long, default_value_t = ClusterUrl::DEFAULT_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// The address every part listens on (0.0.0.0 opens the cluster to the network).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Task slots of each executor (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    vcores: Option<u16>,
    /// Where the executors keep their shuffle files, one subdirectory each (default: a
    /// temporary directory removed when the cluster stops).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Seconds to wait for the scheduler and every executor to be up.
    #[arg(long, default_value_t = 60)]
    ready_timeout: u64,
}

/// Arguments of `liftos cluster scheduler`.
#[derive(Debug, clap::Args)]
struct SchedulerArgs {
    #[command(flatten)]
    log: Logging,
    /// The address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// The port to listen on.
    #[arg(long, default_value_t = ClusterUrl::DEFAULT_PORT)]
    port: u16,
    /// The host name others reach this scheduler by (default: the bind address).
    #[arg(long)]
    external_host: Option<String>,
    /// Executors that must be registered before `/readyz` answers 200.
    #[arg(long, default_value_t = 1)]
    min_executors: usize,
    /// Stop when standard input closes (set by `liftos cluster` for its children).
    #[arg(long, hide = true)]
    parent_pipe: bool,
}

/// Arguments of `liftos cluster executor`.
#[derive(Debug, clap::Args)]
struct ExecutorArgs {
    #[command(flatten)]
    log: Logging,
    /// The scheduler, as df://HOST:PORT.
    #[arg(long, value_name = "df://HOST:PORT")]
    scheduler: String,
    /// The address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// The host name the scheduler and clients reach this executor by (default: the bind
    /// address; required when binding 0.0.0.0 on a machine with several addresses).
    #[arg(long)]
    external_host: Option<String>,
    /// The Arrow Flight port (clients and other executors fetch results from it).
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// The gRPC port (the scheduler sends tasks to it).
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Task slots (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    vcores: Option<u16>,
    /// Where shuffle files go (default: a directory under the system's temporary one).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Stop when standard input closes (set by `liftos cluster` for its children).
    #[arg(long, hide = true)]
    parent_pipe: bool,
}

fn parse_level(s: &str) -> Result<log::LevelFilter, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not a log level: error, warn, info, debug or trace"))
}

/// Runs `liftos cluster` or one of its parts.
pub fn run(args: Args) -> liftos::Result<()> {
    match args.part {
        Some(Part::Scheduler(a)) => scheduler(a),
        Some(Part::Executor(a)) => executor(a),
        None => local(args.local),
    }
}

fn cluster_error(what: &str, message: impl std::fmt::Display) -> liftos::Error {
    liftos::Error::Io {
        path: what.to_owned(),
        source: std::io::Error::other(message.to_string()),
    }
}

/// `host:port` with brackets around an IPv6 host.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Log records of the Ballista crates on stderr, each line naming the part.
#[derive(Debug)]
struct StderrLog {
    part: String,
    level: log::LevelFilter,
}

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "[{}] {} {}: {}",
                self.part,
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

fn init_log(part: String, level: log::LevelFilter) {
    if log::set_boxed_logger(Box::new(StderrLog { part, level })).is_ok() {
        log::set_max_level(level);
    }
}

/// The runtime of a scheduler or executor: every core, and large stacks for deep plans
/// (as Ballista's own binaries).
fn server_runtime() -> liftos::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .map_err(|source| liftos::Error::Io {
            path: "tokio runtime".to_owned(),
            source,
        })
}

/// Resolves when standard input closes, when `enabled`; never otherwise.
async fn parent_gone(enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // A plain thread: a blocked read must not keep the runtime from shutting down.
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    let _ = rx.await;
}

fn scheduler(a: SchedulerArgs) -> liftos::Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;

    init_log(format!("scheduler :{}", a.port), a.log.log_level);
    let host = a
        .external_host
        .clone()
        .unwrap_or_else(|| a.bind.to_string());
    let address = SocketAddr::new(a.bind, a.port);
    let what = format!("scheduler on {address}");
    let runtime = server_runtime()?;
    let result = runtime.block_on(async {
        let mut config = SchedulerConfig::default()
            .with_hostname(host.clone())
            .with_port(a.port);
        config.bind_host = a.bind.to_string();
        config.min_ready_executors = a.min_executors;
        let cluster = BallistaCluster::new_from_config(&config)
            .await
            .map_err(|e| cluster_error(&what, e))?;
        println!(
            "scheduler listening on {address}: clients use --cluster {}",
            ClusterUrl::new(host.as_str(), a.port)
        );
        tokio::select! {
            r = ballista_scheduler::scheduler_process::start_server(cluster, address, Arc::new(config)) => {
                r.map_err(|e| cluster_error(&what, e))
            }
            _ = super::interrupted() => Ok(()),
            () = parent_gone(a.parent_pipe) => Ok(()),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

fn executor(a: ExecutorArgs) -> liftos::Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

    let scheduler: ClusterUrl = a.scheduler.parse()?;
    init_log(format!("executor :{}", a.port), a.log.log_level);
    let what = format!("executor on {}", SocketAddr::new(a.bind, a.port));
    let work_dir = match &a.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| liftos::Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let Some(d) = dir.to_str() else {
                return Err(cluster_error(
                    &dir.display().to_string(),
                    "the work directory's path is not valid UTF-8",
                ));
            };
            Some(d.to_owned())
        }
        None => None,
    };
    let config = ExecutorProcessConfig {
        bind_host: a.bind.to_string(),
        external_host: a
            .external_host
            .clone()
            .or_else(|| (!a.bind.is_unspecified()).then(|| a.bind.to_string())),
        port: a.port,
        grpc_port: a.grpc_port,
        scheduler_host: scheduler.host().to_owned(),
        scheduler_port: scheduler.port(),
        // Non-zero: keep trying until the scheduler accepts (it may start after us).
        scheduler_connect_timeout_seconds: 60,
        // 0 = every core.
        vcores: a.vcores.map_or(0, usize::from),
        work_dir,
        special_mod_log_level: a.log.log_level.to_string(),
        print_thread_info: false,
        ..ExecutorProcessConfig::default()
    };
    let runtime = server_runtime()?;
    // The executor stops itself, telling the scheduler, on SIGINT and SIGTERM.
    let result = runtime.block_on(async {
        tokio::select! {
            r = start_executor_process(Arc::new(config)) => r.map_err(|e| cluster_error(&what, e)),
            () = parent_gone(a.parent_pipe) => Ok(()),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// A part started by `liftos cluster`: its process and the pipe it watches.
#[derive(Debug)]
struct ChildPart {
    name: String,
    child: Child,
}

/// Stops every part: closes their pipes (each stops on its own), then kills what is
/// still running after `grace`.
fn stop_all(parts: &mut [ChildPart], grace: Duration) {
    for p in parts.iter_mut() {
        drop(p.child.stdin.take());
    }
    let deadline = Instant::now() + grace;
    for p in parts.iter_mut() {
        loop {
            match p.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

/// The first part that has stopped, with how it ended.
fn stopped(parts: &mut [ChildPart]) -> Option<String> {
    parts.iter_mut().find_map(|p| match p.child.try_wait() {
        Ok(Some(status)) => Some(format!("{} stopped ({status})", p.name)),
        Ok(None) => None,
        Err(e) => Some(format!("{}: {e}", p.name)),
    })
}

/// `n` ports free on `bind` at the time of asking (each held until all are chosen, so
/// they differ).
fn free_ports(bind: IpAddr, n: usize) -> liftos::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind(SocketAddr::new(bind, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| liftos::Error::Io {
            path: format!("a free port on {bind}"),
            source,
        })?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| liftos::Error::Io {
            path: format!("a free port on {bind}"),
            source,
        })
}

/// The scheduler's `/readyz`: `Some(body)` when it answers 200 (enough executors are
/// registered), `None` while it is not listening or not ready.
async fn readyz(address: SocketAddr) -> Option<String> {
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        let request =
            format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?;
        (status == "200").then(|| body.trim().to_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
}

fn spawn_part(name: String, exe: &Path, args: &[String]) -> liftos::Result<ChildPart> {
    let child = Command::new(exe)
        .arg("cluster")
        .args(args)
        .arg("--parent-pipe")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| liftos::Error::Io {
            path: format!("{} ({})", exe.display(), name),
            source,
        })?;
    Ok(ChildPart { name, child })
}

fn local(a: LocalArgs) -> liftos::Result<()> {
    let exe = std::env::current_exe().map_err(|source| liftos::Error::Io {
        path: "the liftos executable".to_owned(),
        source,
    })?;
    // Clients and the readiness probe reach an unspecified bind address on loopback.
    let reach = if a.bind.is_unspecified() {
        match a.bind {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        a.bind
    };
    let url = ClusterUrl::new(reach.to_string(), a.port);
    let scheduler_address = SocketAddr::new(reach, a.port);
    if let Err(e) = TcpListener::bind(SocketAddr::new(a.bind, a.port)) {
        return Err(cluster_error(
            &format!("--port {}", a.port),
            format!(
                "cannot listen on {} ({e}); pick another --port or --bind",
                host_port(&a.bind.to_string(), a.port)
            ),
        ));
    }
    let temp_dir;
    let work_dir = match &a.work_dir {
        Some(dir) => dir.clone(),
        None => {
            temp_dir = tempfile::Builder::new()
                .prefix("liftos-cluster-")
                .tempdir()
                .map_err(|source| liftos::Error::Io {
                    path: "a temporary work directory".to_owned(),
                    source,
                })?;
            temp_dir.path().to_owned()
        }
    };
    let level = a.log.log_level.to_string();
    let executors = usize::from(a.executors);
    let deadline = Instant::now() + Duration::from_secs(a.ready_timeout);
    let not_ready = |what: &str| {
        cluster_error(
            &url.to_string(),
            format!(
                "{what} after {} s (--ready-timeout); --log-level info shows why",
                a.ready_timeout
            ),
        )
    };
    let mut parts = Vec::with_capacity(executors + 1);
    let runtime = super::runtime()?;
    let outcome = runtime.block_on(async {
        let start = async {
            parts.push(spawn_part(
                "the scheduler".to_owned(),
                &exe,
                &[
                    "scheduler".to_owned(),
                    format!("--bind={}", a.bind),
                    format!("--port={}", a.port),
                    format!("--external-host={reach}"),
                    format!("--min-executors={executors}"),
                    format!("--log-level={level}"),
                ],
            )?);
            println!("scheduler: {url} (pid {})", parts[0].child.id());
            // The executors start once the scheduler accepts connections.
            while tokio::net::TcpStream::connect(scheduler_address)
                .await
                .is_err()
            {
                if let Some(why) = stopped(&mut parts) {
                    return Err(cluster_error(
                        &url.to_string(),
                        format!("{why} before it was up; its error is above"),
                    ));
                }
                if Instant::now() >= deadline {
                    return Err(not_ready("the scheduler does not accept connections"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let ports = free_ports(a.bind, 2 * executors)?;
            for (i, pair) in ports.chunks(2).enumerate() {
                let (flight, grpc) = (pair[0], pair[1]);
                let dir = work_dir.join(format!("executor-{}", i + 1));
                let mut args = vec![
                    "executor".to_owned(),
                    format!("--scheduler={url}"),
                    format!("--bind={}", a.bind),
                    format!("--external-host={reach}"),
                    format!("--port={flight}"),
                    format!("--grpc-port={grpc}"),
                    format!("--log-level={level}"),
                    "--work-dir".to_owned(),
                    dir.display().to_string(),
                ];
                if let Some(v) = a.vcores {
                    args.push(format!("--vcores={v}"));
                }
                let part = spawn_part(format!("executor {}", i + 1), &exe, &args)?;
                println!(
                    "executor {}: flight {}, grpc {}, work dir {} (pid {})",
                    i + 1,
                    host_port(&reach.to_string(), flight),
                    host_port(&reach.to_string(), grpc),
                    dir.display(),
                    part.child.id()
                );
                parts.push(part);
            }
            let _ = std::io::stdout().flush();
            // Ready when the scheduler's /readyz counts every executor.
            loop {
                if let Some(why) = stopped(&mut parts) {
                    return Err(cluster_error(
                        &url.to_string(),
                        format!("{why} before the cluster was ready; its error is above"),
                    ));
                }
                if let Some(body) = readyz(scheduler_address).await {
                    return Ok(body);
                }
                if Instant::now() >= deadline {
                    return Err(not_ready("not every executor has registered"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let body = tokio::select! {
            r = start => r?,
            sig = super::interrupted() => return Ok(sig),
        };
        // `body` is the scheduler's own count: "ready: N executors registered".
        let registered = body.strip_prefix("ready: ").unwrap_or(&body);
        println!("ready: {url} ({registered}); Ctrl-C stops the cluster");
        let _ = std::io::stdout().flush();
        let watch = async {
            loop {
                if let Some(why) = stopped(&mut parts) {
                    return cluster_error(&url.to_string(), why);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        tokio::select! {
            e = watch => Err(e),
            sig = super::interrupted() => Ok(sig),
        }
    });
    runtime.shutdown_background();
    stop_all(&mut parts, Duration::from_secs(10));
    let signal = outcome?;
    println!("stopped by {signal}");
    Ok(())
}
