//! The iceoryx2 request-response echo: a `[u8] -> [u8]` service; the
//! server answers every request with a copy of its payload, the client
//! checks every byte. Both sides poll (iceoryx2 request-response has no
//! built-in blocking wait; its own benchmarks poll too), so this is
//! iceoryx2's lowest-latency configuration.

use std::time::{Duration, Instant};

use iceoryx2::prelude::*;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn service_name(tag: &str) -> Res<ServiceName> {
    Ok(format!("ffb-bench/echo/{tag}").as_str().try_into()?)
}

/// Serves echo on service `tag` until a zero-length request arrives.
pub fn serve(tag: &str, max_len: usize) -> Res<()> {
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let service = node
        .service_builder(&service_name(tag)?)
        .request_response::<[u8], [u8]>()
        .create()?;
    let server = service
        .server_builder()
        .initial_max_slice_len(max_len)
        .allocation_strategy(AllocationStrategy::PowerOfTwo)
        .create()?;
    loop {
        match server.receive()? {
            Some(active) => {
                let input = active.payload();
                let n = input.len();
                let resp = active.loan_slice_uninit(n)?;
                resp.write_from_slice(input).send()?;
                if n == 0 {
                    return Ok(());
                }
            }
            None => std::hint::spin_loop(),
        }
    }
}

/// A connected echo client.
pub struct Client {
    _node: Node<ipc::Service>,
    client: iceoryx2::port::client::Client<ipc::Service, [u8], (), [u8], ()>,
}

impl Client {
    /// Opens service `tag` (waits up to 10 s for the server to create it).
    pub fn connect(tag: &str, max_len: usize) -> Res<Client> {
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let service = loop {
            match node.service_builder(&service_name(tag)?).request_response::<[u8], [u8]>().open() {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => return Err(format!("open service: {e:?}").into()),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let client = service
            .client_builder()
            .initial_max_slice_len(max_len)
            .allocation_strategy(AllocationStrategy::PowerOfTwo)
            .create()?;
        Ok(Client { _node: node, client })
    }

    /// One round trip. Calls `check` on the reply while it is still loaned
    /// (after the clock stopped) and returns the round-trip time; `None`
    /// when no server was connected to receive the request.
    pub fn echo(&self, req: &[u8], check: &mut dyn FnMut(&[u8])) -> Res<Option<Duration>> {
        let t0 = Instant::now();
        let pending = self.client.loan_slice_uninit(req.len())?.write_from_slice(req).send()?;
        if pending.number_of_server_connections() == 0 {
            return Ok(None);
        }
        loop {
            if let Some(resp) = pending.receive()? {
                let d = t0.elapsed();
                check(resp.payload());
                return Ok(Some(d));
            }
            std::hint::spin_loop();
        }
    }
}
