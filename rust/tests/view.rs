//! VolatileSlice, the view the crate reads and writes shared memory
//! through, over private memory: pure Rust, so Miri runs it too (`make
//! test-miri`) and checks that no access strays outside the view or
//! forms an aliasing reference.

use ffb::{Code, VolatileSlice};

#[test]
fn reads_and_writes_stay_inside_the_view() {
    let mut mem: Vec<u8> = (0..100u8).collect();
    let v = VolatileSlice::from_mut_slice(&mut mem);
    assert_eq!(v.len(), 100);
    assert_eq!((v.get(0), v.get(99), v.get(100)), (Some(0), Some(99), None));
    assert!(v.set(99, 7) && !v.set(100, 7));
    let mid = v.subslice(10, 20).unwrap();
    assert_eq!(mid.len(), 20);
    assert_eq!(mid.get(0), Some(10));
    assert_eq!(mid.subslice(20, 0).unwrap().len(), 0);
    assert_eq!(
        mid.subslice(15, 6).unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
    assert_eq!(
        v.subslice(usize::MAX, 2).unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
    assert_eq!(
        u32::from_le_bytes(v.read_array(4).unwrap()),
        u32::from_le_bytes([4, 5, 6, 7])
    );
    assert!(v.read_array::<4>(97).is_err());
    assert_eq!(mid.copy_from(&[0xAA; 50]), 20);
    let mut out = [0u8; 30];
    assert_eq!(v.subslice(5, 30).unwrap().copy_to(&mut out), 30);
    assert_eq!(&out[..5], &[5, 6, 7, 8, 9]);
    assert!(out[5..25].iter().all(|&b| b == 0xAA));
    assert_eq!(out[25], 30);
    assert_eq!(mem[99], 7);
    assert_eq!(mem[29], 0xAA);
    assert_eq!(mem[30], 30);
}

#[test]
fn chunks_visit_every_byte_once_in_order() {
    let mut mem: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let want = mem.clone();
    let v = VolatileSlice::from_mut_slice(&mut mem);
    for chunk in [1usize, 7, 64, 999, 1000, 4096] {
        let mut seen = Vec::new();
        v.for_each_chunk(&mut vec![0u8; chunk], |c| {
            assert!(c.len() <= chunk && !c.is_empty());
            seen.extend_from_slice(c);
        });
        assert_eq!(seen, want);
    }
    let mut calls = 0;
    v.for_each_chunk(&mut [], |_| calls += 1);
    assert_eq!(calls, 0);
    assert_eq!(v.to_vec(), want);
}

#[test]
fn slices_without_a_copy_see_the_same_bytes() {
    let mut mem = *b"zero copy view!";
    let v = VolatileSlice::from_mut_slice(&mut mem);
    // SAFETY: private memory; nothing else writes it while the slices live.
    let (s, m) = unsafe {
        (
            v.subslice(0, 4).unwrap().as_slice(),
            v.subslice(5, 4).unwrap().as_mut_slice(),
        )
    };
    assert_eq!(s, b"zero");
    m.copy_from_slice(b"COPY");
    assert_eq!(v.to_vec(), b"zero COPY view!");
    let empty = v.subslice(15, 0).unwrap();
    // SAFETY: an empty view: nothing to read.
    assert!(unsafe { empty.as_slice() }.is_empty());
}
