//! CPU placement: the server side of every benchmark on CPU 0, the client
//! side on CPU 1.

pub const SERVER_CPU: usize = 0;
pub const CLIENT_CPU: usize = 1;

/// Pins the calling thread (and threads it creates later) to `cpu`.
pub fn pin_current(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set, and
    // CPU_SET/sched_setaffinity only touch that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
