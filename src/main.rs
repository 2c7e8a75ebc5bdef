//! The `synthex` command line: parses flags in the Prometheus exporters' style, sets up logging,
//! picks the mode and maps every error to an exit status (see [`synthex::exit`]: 0 ok, 1 runtime
//! failure, 2 usage or config error, 3 failed thresholds, 130 interrupted load test).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use synthex::config::kinds::{TimeoutKind, duration_in};
use synthex::config::scalar::Kind;
use synthex::connection_limit::ConnectionLimit;
use synthex::demo_target::{self, DemoTarget};
use synthex::http_server::Listener;
use synthex::loadtest::command::LoadArgs;
use synthex::logging::{self, LogFormat, LogLevel};
use synthex::report::command::{CompareArgs, ReportCommand};
use synthex::web::WebLayer;
use synthex::{config, daemon, demo, exit, loadtest, report, shutdown};

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("SYNTHEX_REVISION"),
    ")"
);

/// Exit status of a bad flag, a bad config file or a target that cannot be set up.
const EXIT_CONFIG: u8 = exit::USAGE;
/// Exit status of a failure at run time (a port already in use, an I/O error).
const EXIT_RUNTIME: u8 = exit::RUNTIME;

/// Continuous synthetic traffic for HTTP services, exported as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "synthex", version = VERSION, propagate_version = true)]
struct Cli {
    /// Only log messages with this severity or above (RUST_LOG, when set, refines per module).
    #[arg(long = "log.level", value_enum, default_value = "info", global = true)]
    log_level: LogLevel,
    /// Output format of log messages.
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: send the configured synthetic traffic and serve /metrics.
    Run {
        /// Path to the configuration file.
        #[arg(long = "config.file", value_name = "FILE")]
        config_file: PathBuf,
        /// Address on which to expose metrics, the status page and health endpoints
        /// (`:9577` listens on all interfaces).
        #[arg(
            long = "web.listen-address",
            value_name = "ADDR",
            default_value = ":9577"
        )]
        listen_address: String,
        /// TLS, basic auth and response headers for that address, in exporter-toolkit's web
        /// config format.
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config_file: Option<PathBuf>,
        /// Enable the lifecycle endpoints: `POST /-/reload` (re-read the config file).
        /// Without it they answer 403, as Prometheus's do.
        #[arg(long = "web.enable-lifecycle")]
        enable_lifecycle: bool,
        /// Check the config file's content every D (1s to 24h) and reload it when it changed,
        /// for mounts nobody sends SIGHUP to (Kubernetes ConfigMaps). Off by default.
        #[arg(long = "config.auto-reload-interval", value_name = "D", value_parser = auto_reload_interval)]
        auto_reload_interval: Option<std::time::Duration>,
    },
    /// Validate a configuration file and print what would run; exit 2 if it is invalid.
    CheckConfig {
        /// Path to the configuration file.
        file: PathBuf,
    },
    /// Run the built-in demo target and the daemon on config/demo.yml in one process.
    Demo {
        /// Address on which to expose metrics and the status page.
        #[arg(
            long = "web.listen-address",
            value_name = "ADDR",
            default_value = "127.0.0.1:9577"
        )]
        listen_address: String,
        /// A demo config to use instead of the built-in config/demo.yml; its first target's
        /// base_url says where the demo target listens.
        #[arg(long = "config.file", value_name = "FILE")]
        config_file: Option<PathBuf>,
        /// TLS, basic auth and response headers for the metrics address, in
        /// exporter-toolkit's web config format.
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config_file: Option<PathBuf>,
    },
    /// Run only the built-in demo target service.
    DemoTarget {
        /// Address the demo target listens on.
        #[arg(long = "listen", value_name = "ADDR", default_value = "127.0.0.1:8089")]
        listen: String,
    },
    /// GET a URL and exit 0 on a 200 answer, 1 otherwise (a container healthcheck for the
    /// distroless image, which has no shell, curl or wget).
    Healthcheck {
        /// The endpoint to check.
        #[arg(
            long,
            value_name = "URL",
            default_value = "http://127.0.0.1:9577/-/healthy"
        )]
        url: String,
        /// Give up after this long: more than 0, at most 5m.
        #[arg(long, value_name = "D", default_value = "2s", value_parser = TimeoutKind::parse)]
        timeout: std::time::Duration,
        /// TLS and basic auth for an endpoint secured with --web.config.file.
        #[command(flatten)]
        access: synthex::healthcheck::Access,
    },
    /// Run a bounded load test on the config's scenarios and grade it (exit 3 when a
    /// threshold fails, 130 when interrupted).
    Load(Box<LoadArgs>),
    /// Compare two load-test reports (exit 3 when the new one regressed).
    Compare(CompareArgs),
    /// Work with load-test reports.
    #[command(subcommand)]
    Report(ReportCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_level, cli.log_format);
    let runtime = match runtime_for(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                EXIT_RUNTIME,
                &format!("cannot start the async runtime: {e}"),
            );
        }
    };
    runtime.block_on(dispatch(cli.command))
}

/// The runtime a command runs on. Load tests and the demo target (a load test's target) use
/// every core the process may run on. The daemon sends a few requests a second: on one thread
/// each request costs no cross-thread wake-ups or task steals, which measured 11 % less CPU per
/// request, 25 % fewer context switches and a tighter latency tail than on the multi-threaded
/// runtime; the blocking work (resource sampling, `/metrics` encoding) runs on the blocking
/// pool either way, whose threads are named [`BLOCKING_THREAD_NAME`] on the current-thread
/// runtime so `top -H` and tests/daemon_threads.rs tell them from the runtime's.
///
/// A process confined to one CPU (`taskset`, a cgroup's cpuset, a 1-CPU container: what
/// `available_parallelism` reports) gets the current-thread runtime for every command: there a
/// multi-threaded runtime is one worker plus the thread blocked in `block_on`, sharing the one
/// CPU, and pays the work-stealing scheduler and a cross-thread wake-up whenever the two hand
/// work over, for nothing.
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = match command {
        Command::Load(_) | Command::DemoTarget { .. } if !one_cpu => {
            tokio::runtime::Builder::new_multi_thread()
        }
        _ => {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.thread_name(BLOCKING_THREAD_NAME);
            builder
        }
    };
    builder.enable_all().build()
}

/// The blocking-pool threads of the single-threaded commands (the daemon among them).
const BLOCKING_THREAD_NAME: &str = "synthex-blocking";

async fn dispatch(command: Command) -> ExitCode {
    // First thing, so SIGHUP (exit 129 by default) can never end a long-running command.
    let hangups = match command {
        Command::Run { .. } | Command::Demo { .. } => shutdown::hangups(),
        _ => None,
    };
    match command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Run {
            config_file,
            listen_address,
            web_config_file,
            enable_lifecycle,
            auto_reload_interval,
        } => {
            let config = match config::load(&config_file) {
                Ok(c) => c,
                Err(e) => return fail(EXIT_CONFIG, &e.to_string()),
            };
            let listener = match listen(&listen_address, web_config_file.as_deref()).await {
                Ok(l) => l,
                Err((code, e)) => return fail(code, &e),
            };
            let options = daemon::Options {
                enable_lifecycle,
                auto_reload_interval,
                hangups,
            };
            match daemon::run(config, listener, options, shutdown::signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ daemon::DaemonError::Target { .. }) => fail(EXIT_CONFIG, &e.to_string()),
                Err(e) => fail(EXIT_RUNTIME, &e.to_string()),
            }
        }
        Command::Demo {
            listen_address,
            config_file,
            web_config_file,
        } => {
            let config = match demo::load_config(config_file.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(EXIT_CONFIG, &e.to_string()),
            };
            let listener = match listen(&listen_address, web_config_file.as_deref()).await {
                Ok(l) => l,
                Err((code, e)) => return fail(code, &e),
            };
            print_demo_banner(&listener);
            if let Some(mut hangups) = hangups {
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        tracing::info!("SIGHUP received: the demo does not reload; still running");
                    }
                });
            }
            match demo::run(config, listener, shutdown::signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(EXIT_RUNTIME, &format!("{e:#}")),
            }
        }
        Command::Load(args) => {
            let listener = if args.listen_address.is_empty() {
                if let Some(file) = &args.web_config_file {
                    let message = format!(
                        "--web.config.file {} needs --web.listen-address: there is no port to secure",
                        file.display()
                    );
                    return fail(EXIT_CONFIG, &message);
                }
                if args.enable_lifecycle {
                    return fail(
                        EXIT_CONFIG,
                        "--web.enable-lifecycle needs --web.listen-address: there is no page to stop the test from",
                    );
                }
                None
            } else {
                match listen(&args.listen_address, args.web_config_file.as_deref()).await {
                    Ok(l) => Some(l),
                    Err((code, e)) => return fail(code, &e),
                }
            };
            let (stop, stop_now) = (CancellationToken::new(), CancellationToken::new());
            tokio::spawn(loadtest::command::stop_on_signals(
                stop.clone(),
                stop_now.clone(),
            ));
            ExitCode::from(loadtest::command::execute(*args, listener, stop, stop_now).await)
        }
        Command::Healthcheck {
            url,
            timeout,
            access,
        } => match synthex::healthcheck::check(&url, timeout, &access).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(synthex::healthcheck::Failure::BadUrl(e)) => fail(EXIT_CONFIG, &e),
            Err(synthex::healthcheck::Failure::Unhealthy(e)) => fail(EXIT_RUNTIME, &e),
        },
        Command::Compare(args) => ExitCode::from(report::command::compare_reports(&args)),
        Command::Report(ReportCommand::Merge(args)) => {
            ExitCode::from(report::command::merge_reports(&args))
        }
        Command::Report(ReportCommand::Trend(args)) => {
            ExitCode::from(report::trend::command::trend_reports(&args))
        }
        Command::DemoTarget { listen } => {
            let listener = match bind(&listen).await {
                Ok(l) => l,
                Err(e) => return fail(EXIT_RUNTIME, &e),
            };
            tracing::info!(address = %listen, "demo target listening");
            let stop = CancellationToken::new();
            let server = tokio::spawn(demo_target::serve(
                listener,
                Arc::new(DemoTarget::new()),
                stop.clone(),
            ));
            shutdown::signal().await;
            stop.cancel();
            match server.await {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(e)) => fail(EXIT_RUNTIME, &format!("demo target: {e}")),
                Err(e) => fail(EXIT_RUNTIME, &format!("demo target: {e}")),
            }
        }
    }
}

fn check_config(file: &Path) -> ExitCode {
    match config::load(file) {
        Ok(config) => {
            print!("{}", config::describe(&config));
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_CONFIG, &e.to_string()),
    }
}

fn print_demo_banner(listener: &Listener) {
    if let Ok(addr) = listener.local_addr() {
        let scheme = listener.scheme();
        eprintln!(
            "synthex demo: metrics at {scheme}://{addr}/metrics, status page at {scheme}://{addr}/ (Ctrl-C stops)"
        );
    }
}

/// The exporter's listener: the web config checked first (exit 2 when it is bad), then the
/// address bound (exit 1 when it cannot be), with the connection cap for this process.
async fn listen(address: &str, web_config: Option<&Path>) -> Result<Listener, (u8, String)> {
    let web = match web_config {
        Some(file) => WebLayer::load(file).map_err(|e| (EXIT_CONFIG, e.to_string()))?,
        None => WebLayer::plain(),
    };
    let tcp = bind(address).await.map_err(|e| (EXIT_RUNTIME, e))?;
    let limit = ConnectionLimit::for_process().releasing_memory_with(release_freed_memory);
    tracing::debug!(max_connections = limit.max(), "exporter connection limit");
    Ok(Listener::new(tcp, web, limit))
}

/// Binds a listen address given as `host:port`, `[v6]:port` or `:port` (all interfaces, as the
/// Prometheus exporters accept).
async fn bind(address: &str) -> Result<TcpListener, String> {
    let addrs: Vec<SocketAddr> = match address.strip_prefix(':') {
        Some(port) => {
            let port: u16 = port
                .parse()
                .map_err(|_| format!("listen address {address:?}: expected HOST:PORT or :PORT"))?;
            vec![SocketAddr::from(([0, 0, 0, 0], port))]
        }
        None => tokio::net::lookup_host(address)
            .await
            .map_err(|e| format!("listen address {address:?}: expected HOST:PORT or :PORT ({e})"))?
            .collect(),
    };
    let mut last_error = format!("listen address {address:?} resolved to nothing");
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = format!("cannot listen on {addr}: {e}"),
        }
    }
    Err(last_error)
}

/// `--config.auto-reload-interval`: a duration from 1 s (the file is read once per interval) to
/// 24 h.
fn auto_reload_interval(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let fits = |d: Duration| d >= Duration::from_secs(1) && d <= Duration::from_secs(86_400);
    duration_in("interval", text, fits, "at least 1s and at most 24h")
}

/// Prints `message` as the error (through the redaction every printed text gets) and returns `code`.
/// Hands heap pages freed after a connection flood back to the kernel: glibc keeps them mapped
/// (resident memory stayed at twice its level after 1,100 connections came and went), and
/// `malloc_trim` returns every whole free page of every arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return freed memory themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("synthex: error: {}", config::redact(message));
    ExitCode::from(code)
}
