use ffb_bench_work::{checksum, spin_work, transform, Checksum};

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 131 + 7) as u8).collect()
}

#[test]
fn checksum_does_not_depend_on_how_the_input_is_split() {
    for n in [0usize, 1, 7, 8, 31, 32, 33, 100, 4096, 65537] {
        let p = payload(n);
        let whole = checksum(&p);
        for piece in [1usize, 3, 8, 13, 32, 1000] {
            let mut s = Checksum::new();
            for c in p.chunks(piece) {
                s.update(c);
            }
            assert_eq!(s.finish(), whole, "n={n} piece={piece}");
        }
    }
}

#[test]
fn checksum_sees_every_byte() {
    let p = payload(4099);
    let base = checksum(&p);
    for i in [0usize, 1, 8, 2048, 4095, 4098] {
        let mut q = p.clone();
        q[i] ^= 1;
        assert_ne!(checksum(&q), base, "flip at {i} not seen");
    }
    assert_ne!(checksum(&p[..4098]), base, "length not seen");
}

#[test]
fn transform_uppercases_ascii_only() {
    let mut out = vec![0u8; 6];
    transform(b"aZ{\xe9z0", &mut out);
    assert_eq!(&out, b"AZ{\xe9Z0");
}

#[test]
fn spin_work_depends_on_seed_and_iterations() {
    assert_ne!(spin_work(1000, 1), spin_work(1000, 2));
    assert_ne!(spin_work(1000, 1), spin_work(1001, 1));
    assert_eq!(spin_work(5, 0), spin_work(5, 1));
}
