//! Any bytes through the client's stream processor (natively, against a host that counts
//! calls): success or a code, never a panic, and a stream refused before rendering makes no
//! call.
#![no_main]

use dx_client::{Client, Host};
use dx_htip::Event;
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Counting {
    calls: usize,
    next: i32,
}

impl Host for Counting {
    fn clone_template(&mut self, _: u16) -> i32 {
        self.calls += 1;
        self.next += 1;
        self.next
    }
    fn cache_template(&mut self, _: u16, _: &str) {
        self.calls += 1;
    }
    fn append(&mut self, _: i32, _: i32) {
        self.calls += 1;
    }
    fn remove(&mut self, _: i32) {
        self.calls += 1;
    }
    fn set_text(&mut self, _: i32, _: &str) {
        self.calls += 1;
    }
    fn set_attr(&mut self, _: i32, _: &str, _: &str) {
        self.calls += 1;
    }
    fn toggle_class(&mut self, _: i32, _: &str, _: bool) {
        self.calls += 1;
    }
    fn listen(&mut self, _: i32, _: Event, _: u32) {
        self.calls += 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut client = Client::new();
    let mut host = Counting::default();
    if let Err(code) = client.render(&mut host, data) {
        assert!(code.code() <= 18, "{code:?}");
        assert_eq!(host.calls, 0, "{code:?} after {} calls", host.calls);
    }
});
