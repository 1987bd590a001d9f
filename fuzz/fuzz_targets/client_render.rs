//! Any bytes through the client's stream processor (natively, against a host that counts
//! calls): success or a code, never a panic, and a stream refused before rendering makes no
//! call. One client serves every input (reset in between), as in a page, so tables a render
//! leaves dirty show up: a stream the decoder accepts on its own must not be refused as
//! malformed.
#![no_main]

use dx_client::{Client, Host};
use std::cell::RefCell;

use dx_htip::{Event, Text};
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
    fn cache_template(&mut self, _: u16, _: Text<'_>) {
        self.calls += 1;
    }
    fn append(&mut self, _: i32, _: i32) {
        self.calls += 1;
    }
    fn remove(&mut self, _: i32) {
        self.calls += 1;
    }
    fn set_text(&mut self, _: i32, _: Text<'_>) {
        self.calls += 1;
    }
    fn set_attr(&mut self, _: i32, _: Text<'_>, _: Text<'_>) {
        self.calls += 1;
    }
    fn toggle_class(&mut self, _: i32, _: Text<'_>, _: bool) {
        self.calls += 1;
    }
    fn listen(&mut self, _: i32, _: Event, _: u32) {
        self.calls += 1;
    }
}

thread_local! {
    static CLIENT: RefCell<Client> = RefCell::new(Client::new());
}

fuzz_target!(|data: &[u8]| {
    CLIENT.with_borrow_mut(|client| {
        client.reset();
        let mut host = Counting::default();
        if let Err(code) = client.render(&mut host, data) {
            assert!(code.code() <= 18, "{code:?}");
            assert_eq!(host.calls, 0, "{code:?} after {} calls", host.calls);
            if dx_htip::stream::decode(data).is_ok() {
                assert!(!code.is_structural(), "{code:?} for a stream the decoder accepts");
            }
        }
    });
});
