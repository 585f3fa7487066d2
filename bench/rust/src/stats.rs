//! Percentiles and the one-JSON-line-per-measurement output shared with
//! the C probes and the Go peers (fields: see bench/README.md).

/// One measurement's summary.
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// Sorts `lat` (ns per iteration) and summarises it (nearest rank).
pub fn summarize(lat: &mut [f64]) -> Summary {
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = lat.len();
    let at = |q: f64| lat[(q * (n - 1) as f64) as usize];
    Summary {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        mean: lat.iter().sum::<f64>() / n as f64,
        min: lat[0],
        max: lat[n - 1],
    }
}

/// Prints one JSON line. Names and placement are plain ASCII without quotes.
#[allow(clippy::too_many_arguments)]
pub fn emit(name: &str, transport: &str, size: usize, placement: &str, s: &Summary, ops_per_s: f64, iters: usize, checked: bool, note: &str) {
    println!(
        "{{\"name\":\"{name}\",\"transport\":\"{transport}\",\"group\":\"peer\",\"payload_bytes\":{size},\
         \"placement\":\"{placement}\",\"p50_ns\":{:.1},\"p99_ns\":{:.1},\"p999_ns\":{:.1},\"mean_ns\":{:.1},\
         \"min_ns\":{:.1},\"max_ns\":{:.1},\"ops_per_s\":{:.1},\"iterations\":{iters},\"checked\":{checked},\
         \"clock\":\"rust Instant (monotonic)\",\"timing\":\"per call; ops_per_s = calls / time inside calls (verification excluded)\",\
         \"note\":\"{note}\"}}",
        s.p50, s.p99, s.p999, s.mean, s.min, s.max, ops_per_s
    );
}
