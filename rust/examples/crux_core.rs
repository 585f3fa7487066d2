//! A Crux-shaped app core on ffi-bridge: the Rust *core* owns the model
//! and the logic; the Go *shell* (`go/examples/crux`) owns the world. An
//! event goes in (`core.event`, JSON); the core updates its model and asks
//! the shell for every side effect it needs -- an HTTP GET, a key-value
//! read or write, a stream of timer ticks -- as a call from the server to
//! the shell's handlers on the same session, awaiting each answer; then
//! the shell reads the view model (`core.view`, JSON).
//!
//! ```sh
//! cargo run --release --example crux_core -- --socket "$XDG_RUNTIME_DIR/crux.sock" &
//! (cd ../go && go run ./examples/crux -socket "$XDG_RUNTIME_DIR/crux.sock")
//! ```
//!
//! Events: `{"type":"configure","api":URL}`, `{"type":"refresh","city":C}`
//! (effects: `shell.kv.get`, `shell.http.get`, `shell.kv.set`),
//! `{"type":"increment"}` (`shell.kv.set`), `{"type":"watch","ticks":N}`
//! (the stream `shell.time.ticks`), `{"type":"ping","n":N}` (N calls of
//! `shell.ping`, timed: the Rust -> Go round trip). Each session (shell)
//! has a model of its own. The core stops on SIGINT/SIGTERM.

use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ffb::{AsyncRequest, Code, Error, Reply, Server, Session};
use futures_core::Stream;
use serde::{Deserialize, Serialize};

/// What the shell tells the core.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    Configure { api: String },
    Refresh { city: String },
    Increment,
    Watch { ticks: u32 },
    Ping { n: u32 },
}

/// The core's state for one shell.
#[derive(Default)]
struct Model {
    api: String,
    city: String,
    weather: Option<Weather>,
    refreshes: u64,
    count: i64,
    ticks: u32,
    effects: u64,
}

/// The weather API's answer (served by the shell's local HTTP server).
#[derive(Clone, Deserialize, Serialize)]
struct Weather {
    city: String,
    temp_c: f64,
    sky: String,
}

/// What the shell shows: derived from the model, nothing else.
#[derive(Serialize)]
struct ViewModel {
    city: String,
    weather: String,
    refreshes: u64,
    count: i64,
    ticks: u32,
    effects_resolved: u64,
}

/// What `core.event` answers: the effects the event caused, resolved.
#[derive(Serialize, Default)]
struct Outcome {
    effects: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ping_p50_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ping_p99_ns: Option<u64>,
}

#[derive(Clone, Default)]
struct Core {
    models: Arc<Mutex<HashMap<u64, Model>>>,
}

const EFFECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Core {
    fn with_model<R>(&self, session: u64, f: impl FnOnce(&mut Model) -> R) -> R {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        f(models.entry(session).or_default())
    }

    /// One event: update, and resolve each effect through the shell.
    async fn event(&self, req: AsyncRequest) -> ffb::Result<Reply> {
        let event: Event = req.json()?;
        let shell = req.session();
        let id = shell.id();
        let mut out = Outcome::default();
        match event {
            Event::Configure { api } => self.with_model(id, |m| m.api = api),
            Event::Refresh { city } => {
                let key = format!("refreshes:{city}");
                let seen = effect(&shell, &mut out, "shell.kv.get", key.as_bytes()).await?;
                let seen: u64 = String::from_utf8_lossy(&seen).parse().unwrap_or(0);
                let url = self.with_model(id, |m| format!("{}/weather?city={city}", m.api));
                let body = effect(&shell, &mut out, "shell.http.get", url.as_bytes()).await?;
                let weather: Weather = ffb::from_json(&body)?;
                let set = serde_json::json!({"key": key, "value": (seen + 1).to_string()});
                effect(&shell, &mut out, "shell.kv.set", set.to_string().as_bytes()).await?;
                self.with_model(id, |m| {
                    m.city = city;
                    m.weather = Some(weather);
                    m.refreshes = seen + 1;
                });
            }
            Event::Increment => {
                let count = self.with_model(id, |m| {
                    m.count += 1;
                    m.count
                });
                let set = serde_json::json!({"key": "count", "value": count.to_string()});
                effect(&shell, &mut out, "shell.kv.set", set.to_string().as_bytes()).await?;
            }
            Event::Watch { ticks } => {
                let mut items =
                    shell.stream_timeout("shell.time.ticks", ticks.to_le_bytes(), EFFECT_TIMEOUT);
                let mut got = 0u32;
                while let Some(tick) = poll_fn(|cx| Pin::new(&mut items).poll_next(cx)).await {
                    tick?;
                    got += 1;
                    self.with_model(id, |m| m.ticks += 1);
                }
                out.effects.push(format!("shell.time.ticks: {got} ticks"));
            }
            Event::Ping { n } => {
                let payload = [0x5au8; 64];
                let mut rtt = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let t0 = Instant::now();
                    let back = shell
                        .call_timeout("shell.ping", payload, EFFECT_TIMEOUT)
                        .await?;
                    rtt.push(t0.elapsed().as_nanos() as u64);
                    if back != payload {
                        return Err(Error::with_message(
                            Code::PROTOCOL,
                            "shell.ping changed the bytes",
                        ));
                    }
                }
                rtt.sort_unstable();
                out.ping_p50_ns = rtt.get(rtt.len() / 2).copied();
                out.ping_p99_ns = rtt.get(rtt.len() * 99 / 100).copied();
                out.effects.push(format!("shell.ping x{n}"));
            }
        }
        let resolved = out.effects.len() as u64;
        self.with_model(id, |m| m.effects += resolved);
        Ok(Reply::bytes(ffb::to_json(&out)?))
    }

    fn view(&self, session: u64) -> ViewModel {
        self.with_model(session, |m| ViewModel {
            city: m.city.clone(),
            weather: m.weather.as_ref().map_or_else(
                || "unknown".to_owned(),
                |w| format!("{}: {:.1} °C, {}", w.city, w.temp_c, w.sky),
            ),
            refreshes: m.refreshes,
            count: m.count,
            ticks: m.ticks,
            effects_resolved: m.effects,
        })
    }
}

/// Resolve one effect: the shell's handler `name`, awaited.
async fn effect(
    shell: &Session,
    out: &mut Outcome,
    name: &str,
    input: &[u8],
) -> ffb::Result<Vec<u8>> {
    let answer = shell.call_timeout(name, input, EFFECT_TIMEOUT).await?;
    out.effects
        .push(format!("{name} {}", String::from_utf8_lossy(input)));
    Ok(answer)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flag, socket] = args.as_slice() else {
        eprintln!("usage: crux_core --socket PATH");
        return ExitCode::from(2);
    };
    if flag != "--socket" {
        eprintln!("usage: crux_core --socket PATH");
        return ExitCode::from(2);
    }
    // SIGINT/SIGTERM blocked before any thread exists (all inherit the
    // mask), then taken with sigwait on this thread.
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use;
    // pthread_sigmask changes this thread's mask only.
    let signals = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    match serve(socket, &signals) {
        Ok(()) => {
            println!("crux core: shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crux core: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(socket: &str, signals: &libc::sigset_t) -> ffb::Result<()> {
    let server = Server::bind(socket)?;
    let core = Core::default();
    let c = core.clone();
    server.register_async("core.event", move |req| {
        let c = c.clone();
        async move { c.event(req).await }
    })?;
    let c = core.clone();
    server.register_inline("core.view", move |req| {
        Ok(Reply::bytes(ffb::to_json(&c.view(req.session().id()))?))
    })?;
    server.start()?;
    println!("ready: crux core on {socket}");
    let mut sig = 0;
    // SAFETY: signals is initialised and sig a valid out-pointer.
    while unsafe { libc::sigwait(signals, &mut sig) } != 0 {}
    server.shutdown()?;
    Ok(())
}
