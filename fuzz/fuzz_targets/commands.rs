//! Fuzzes the request path of every command RPC: the first byte chooses the entry of
//! [`kcn_services::wire::fuzzing::COMMANDS`], the rest is the request message. A panic anywhere on
//! the path is a crash, and so is an answer other than success or `INVALID_ARGUMENT` (an
//! `INTERNAL` is a conversion that produced nothing without naming a violation, or a domain command
//! that does not serialise).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tonic::Code;

fuzz_target!(|input: &[u8]| {
    let Some((method, answer)) = kcn_services::wire::fuzzing::check(input) else {
        return;
    };
    if let Err(status) = answer {
        assert!(
            status.code() == Code::InvalidArgument,
            "{method} answered {:?}: {}",
            status.code(),
            status.message()
        );
    }
});
