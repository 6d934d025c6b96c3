//! The `tongbao` binary: parses the command line and hands over to `tongbao::cli`.

use clap::Parser;

/// mimalloc instead of glibc's malloc: intake allocates and frees many short-lived strings on
/// three threads, and glibc's free and the kernel re-zeroing pages it returned were about a
/// fifth of the CPU in `perf record` of `tongbao bench intake` (see BENCHMARKS.md). Its
/// `override` feature makes it the C `malloc` too, which SQLite allocates with for every bound
/// value and page it touches. Its `no_thp` feature keeps it from asking for transparent huge
/// pages: memory it hands back to the kernel between batches then comes back 4 KiB at a time
/// instead of as 2 MiB pages zeroed whole, which cost a tenth of the CPU of that benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // A reader that goes away (`tongbao reports list | head -1`) ends the program quietly, as it
    // does any other command-line tool, instead of a panic in `println!` on a closed pipe.
    // SAFETY: restoring the default disposition of one signal, before any other thread prints.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TONGBAO_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour only on a terminal: log files and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = tongbao::cli::Cli::parse();
    match tongbao::cli::run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
