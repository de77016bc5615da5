//! The fixed-rate tick loop: the main thread's whole life.
//!
//! [`phases`] names the steps of a tick; [`timer`] decides when each tick runs; [`metrics`] records how long it took;
//! [`run_loop`] sleeps until a deadline, runs the ECS schedule once, repeats
//! until shutdown is requested.

pub mod metrics;
pub mod phases;
pub mod timer;

use std::time::{Duration, Instant};

pub use metrics::{SharedMetrics, TickMetrics, TickWindow};
pub use phases::Phase;
pub use timer::{Next, TickTimer};

pub use tickforge_api::TickInfo;

/// Runs `tick` at `tick_rate` Hz, on fixed deadlines, until `should_stop` returns true.
///
/// `tick` receives the tick number and the monotonic time since `start`.
/// Timing figures go to `metrics`.
pub fn run_loop(
    start: Instant,
    tick_rate: u16,
    metrics: &TickMetrics,
    mut should_stop: impl FnMut() -> bool,
    mut tick: impl FnMut(u64, Duration),
) {
    let dt = Duration::from_secs(1) / u32::from(tick_rate.max(1));
    let mut timer = TickTimer::new(start.elapsed(), dt, 5);
    let mut window = TickWindow::new(tick_rate);
    while !should_stop() {
        match timer.poll(start.elapsed()) {
            Next::Wait(d) => std::thread::sleep(d),
            Next::Run(n) => {
                let began = start.elapsed();
                tick(n, began);
                let ended = start.elapsed();
                timer.finished(ended);
                metrics.record(n, ended - began, timer.stats());
                window.push(n, ended - began, metrics);
            }
        }
    }
}
