//! A fast scripted upstream for load tests: OpenAI and Anthropic shapes, streaming with a fixed
//! number of chunks and optional pacing. The same engine as the gateway's built-in demo upstream.

use clap::Parser;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::listening::Service;
use stav_gateway::demo::DemoUpstream;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18200")]
    listen: String,
    /// Pause between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    token_delay_ms: u64,
    /// Every text answer is this many chunks (default: the demo's own answers).
    #[arg(long)]
    chunks: Option<usize>,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() {
    let cli = Cli::parse();
    let conf = ServerConf {
        threads: cli.threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let app = DemoUpstream {
        token_delay: Duration::from_millis(cli.token_delay_ms),
        max_body: 64 << 20,
        chunks: cli.chunks,
    };
    let mut svc = Service::new("stav mock upstream".to_string(), app);
    svc.add_tcp(&cli.listen);
    server.add_service(svc);
    server.run_forever();
}
