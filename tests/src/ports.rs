//! Free TCP ports on 127.0.0.1 for servers and proxies started by the harness.
//!
//! Ports are picked at random *below* the kernel's ephemeral range, so an outgoing connection made by any process
//! cannot grab a port between the moment it is chosen and the moment the server binds it. A port handed out once is
//! never handed out again by this process (a stopped server may restart on it). Callers that can, still retry on a
//! bind failure: another process may pick the same port.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowest port the harness picks from.
const LOW: u16 = 10_000;

/// Ports handed out by this process, and the random state used to pick them.
struct Picker {
    used: HashSet<u16>,
    state: u64,
}

fn picker() -> &'static Mutex<Picker> {
    static PICKER: OnceLock<Mutex<Picker>> = OnceLock::new();
    PICKER.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Mutex::new(Picker {
            used: HashSet::new(),
            state: (nanos ^ (u64::from(std::process::id()) << 32)) | 1,
        })
    })
}

/// First port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), 32768 when unknown.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&p: &u16| p > LOW + 1_000)
        .unwrap_or(32_768)
}

/// Returns a port on 127.0.0.1 that was free a moment ago and that this process has not handed out before.
///
/// Panics if no such port is found after many attempts.
pub fn free_port() -> u16 {
    let high = ephemeral_start();
    let mut picker = picker().lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..10_000 {
        // xorshift64*: good enough to spread picks over the range.
        picker.state ^= picker.state >> 12;
        picker.state ^= picker.state << 25;
        picker.state ^= picker.state >> 27;
        let r = picker.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let port = LOW + (r >> 33) as u16 % (high - LOW);
        if picker.used.contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            picker.used.insert(port);
            return port;
        }
    }
    panic!("no free TCP port found on 127.0.0.1 between {LOW} and {high}");
}
