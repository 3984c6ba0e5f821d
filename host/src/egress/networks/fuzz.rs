//! Property tests ("fuzz" targets) of the network rule: an address that is
//! refused as IPv4 is refused in every IPv6 form that carries it (mapped,
//! translated, compatible, NAT64, 6to4), a grant covers those forms too,
//! and names that mean this machine are refused however they are spelled.
//!
//! `cargo test -p wharf --lib fuzz`; `PROPTEST_CASES=1000000` for a long
//! run (docs/operations.md).

use proptest::prelude::*;

use super::*;

/// The IPv6 addresses that carry `v4`.
fn embeddings(v4: Ipv4Addr) -> Vec<Ipv6Addr> {
    let [a, b, c, d] = v4.octets();
    let hi = u16::from_be_bytes([a, b]);
    let lo = u16::from_be_bytes([c, d]);
    let mut out = vec![
        v4.to_ipv6_mapped(),
        Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, hi, lo),
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, hi, lo),
        Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
    ];
    // `::a.b.c.d`, except `::` and `::1`, which are themselves.
    if u32::from(v4) > 1 {
        out.push(Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo));
    }
    out
}

/// IPv4 addresses biased towards the blocked ranges.
fn v4() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        any::<u32>().prop_map(Ipv4Addr::from),
        (
            prop::sample::select(vec![0u8, 10, 100, 127, 169, 172, 192, 198, 224, 240, 255]),
            any::<[u8; 3]>()
        )
            .prop_map(|(a, [b, c, d])| Ipv4Addr::new(a, b, c, d)),
    ]
}

proptest! {
    #[test]
    fn fuzz_blocked_ipv4_is_blocked_in_every_ipv6_form(addr in v4(), grant_len in 8u8..=32) {
        let none = NetworkPolicy::default();
        if none.check(IpAddr::V4(addr)).is_err() {
            for v6 in embeddings(addr) {
                prop_assert!(none.check(IpAddr::V6(v6)).is_err(), "{addr} reached as {v6}");
            }
            // Granting the network lets the address through in every form.
            let net = IpNet::new(IpAddr::V4(addr), grant_len).unwrap().trunc();
            let granted = NetworkPolicy::new(vec![net]);
            prop_assert!(granted.check(IpAddr::V4(addr)).is_ok());
            for v6 in embeddings(addr) {
                prop_assert!(granted.check(IpAddr::V6(v6)).is_ok(), "{addr} granted, {v6} refused");
            }
        }
    }

    #[test]
    fn fuzz_loopback_names_are_refused_however_spelled(
        name in prop::sample::select(vec!["localhost", "x.localhost", "metadata.google.internal", "metadata"]),
        upper in prop::collection::vec(any::<bool>(), 32),
        dots in 0usize..3,
    ) {
        let spelled: String = name
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
            .collect::<String>()
            + &".".repeat(dots);
        prop_assert!(blocked_name(&spelled).is_some(), "{spelled}");
    }

    #[test]
    fn fuzz_any_address_gets_a_verdict(bits in any::<u128>()) {
        let _ = NetworkPolicy::default().check(IpAddr::V6(Ipv6Addr::from(bits)));
    }
}
