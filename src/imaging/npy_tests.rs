//! Unit tests of the parent module (kept in their own file).
use super::*;
use std::fs;

fn p() -> &'static Path {
    Path::new("x.npy")
}

fn err(bytes: &[u8]) -> String {
    match parse_npy_f32(bytes, p()) {
        Err(e @ Error::Npy { .. }) => {
            let s = e.to_string();
            assert!(!s.contains('\n'), "multi-line error: {s}");
            s
        }
        other => panic!("expected an Npy error, got {other:?}"),
    }
}

/// A file with the given header dict (padded as numpy does) and data bytes.
fn file_v(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let len_size = if major == 1 { 2 } else { 4 };
    let hlen = dict.len() + 1;
    let pad = 64 - (8 + len_size + hlen) % 64;
    let total = hlen + pad;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + pad, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3))`, byte for byte: the header
/// dict, spaces up to byte 127, '\n', then the data from byte 128.
fn numpy_arange_2x3() -> Vec<u8> {
    let mut b = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    b.extend_from_slice(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    b.extend_from_slice(&[b' '; 58]);
    b.push(b'\n');
    assert_eq!(b.len(), 128);
    b.extend_from_slice(&[
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40,
        0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0, 0x40,
    ]);
    b
}

#[test]
fn writes_what_numpy_writes() {
    let data = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(npy_bytes_f32(&[2, 3], &data), numpy_arange_2x3());
}

#[test]
fn reads_what_numpy_writes() {
    let a = parse_npy_f32(&numpy_arange_2x3(), p()).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn header_is_aligned_and_ends_with_newline() {
    for shape in [
        vec![],
        vec![0],
        vec![7],
        vec![1, 3, 224, 224],
        vec![123_456_789_012, 0],
        vec![1; 40],
    ] {
        let b = npy_bytes_f32(&shape, &vec![0.5; shape.iter().product()]);
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0, "{shape:?}");
        assert_eq!(b[10 + hlen - 1], b'\n');
        let a = parse_npy_f32(&b, p()).unwrap();
        assert_eq!(a.shape, shape);
    }
}

#[test]
fn scalar_and_1d_headers() {
    let b = npy_bytes_f32(&[], &[2.5]);
    let text = String::from_utf8_lossy(&b[10..]);
    assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (), }"));
    assert_eq!(b.len(), 128 + 4);
    let b = npy_bytes_f32(&[3], &[1.0, 2.0, 3.0]);
    let text = String::from_utf8_lossy(&b[10..]);
    assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"));
}

#[test]
fn round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let data: Vec<f32> = (0..24).map(|i| i as f32 * -0.25 + 1e-7).collect();
    write_npy_f32(&path, &[2, 3, 4], &data).unwrap();
    let a = read_npy_f32(&path).unwrap();
    assert_eq!(a.shape, vec![2, 3, 4]);
    assert_eq!(a.data, data);
    // Overwrite in place; no temp files are left behind.
    write_npy_f32(&path, &[], &[f32::NAN]).unwrap();
    let a = read_npy_f32(&path).unwrap();
    assert!(a.shape.is_empty() && a.data[0].is_nan());
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn write_failures_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Target is a directory: the rename fails, and the temp file is removed.
    let target = dir.path().join("sub");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"x").unwrap();
    let e = write_npy_f32(&target, &[1], &[1.0]).unwrap_err();
    assert!(matches!(e, Error::Write { .. }), "{e}");
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    // Missing directory.
    let e = write_npy_f32(&dir.path().join("nope/a.npy"), &[1], &[1.0]).unwrap_err();
    assert!(matches!(e, Error::Write { .. }), "{e}");
    // Shape and data disagree.
    let e = write_npy_f32(&dir.path().join("b.npy"), &[2, 2], &[1.0]).unwrap_err();
    assert!(e.to_string().contains("(2, 2)"), "{e}");
    assert!(!dir.path().join("b.npy").exists());
}

#[test]
fn read_missing_file_is_not_found() {
    let e = read_npy_f32(Path::new("/definitely/not/here.npy")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[test]
fn accepts_header_variations() {
    let data = f32_bytes(&[1.0, 2.0, 3.0]);
    for dict in [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
        "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}",
        "{ \"descr\" : \"<f4\" ,'fortran_order':False,'shape':( 3 , ) , }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3)}",
    ] {
        for major in [1, 2, 3] {
            let a = parse_npy_f32(&file_v(major, dict, &data), p())
                .unwrap_or_else(|e| panic!("{dict}: {e}"));
            assert_eq!(a.data, vec![1.0, 2.0, 3.0]);
        }
    }
    let a = parse_npy_f32(
        &file_v(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': ()}",
            &data[..4],
        ),
        p(),
    )
    .unwrap();
    assert!(a.shape.is_empty());
    assert_eq!(a.data, vec![1.0]);
    let a = parse_npy_f32(
        &file_v(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5)}",
            &[],
        ),
        p(),
    )
    .unwrap();
    assert_eq!(a.shape, vec![0, 5]);
    assert!(a.data.is_empty());
}

#[test]
fn rejects_other_dtypes_by_name() {
    let e = err(&file_v(
        1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    ));
    assert_eq!(
        e,
        "x.npy: dtype is float64 ('<f8'); convscope needs float32: use arr.astype(np.float32)"
    );
    let e = err(&file_v(
        1,
        "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
        &[0; 4],
    ));
    assert!(e.contains("big-endian float32 ('>f4')"), "{e}");
    for (descr, name) in [
        ("<f2", "float16"),
        ("|u1", "uint8"),
        ("<i8", "int64"),
        ("|b1", "bool"),
        ("|O", "object"),
        ("<c8", "complex64"),
        ("<U3", "unicode"),
        ("weird", "unsupported"),
        ("\u{e9}f4", "unsupported"),
        ("<f999999999", "unsupported"),
        ("", "unsupported"),
    ] {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}");
        let e = err(&file_v(1, &dict, &[0; 4]));
        assert!(e.contains(name) && e.contains("float32"), "{e}");
    }
    let e = err(&file_v(
        1,
        "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    ));
    assert!(e.contains("structured"), "{e}");
}

#[test]
fn rejects_fortran_order() {
    let e = err(&file_v(
        1,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        &[0; 16],
    ));
    assert!(e.contains("np.ascontiguousarray"), "{e}");
}

#[test]
fn truncated_data_names_both_counts() {
    let mut b = numpy_arange_2x3();
    b.truncate(b.len() - 5);
    let e = err(&b);
    assert!(
        e.contains("truncated") && e.contains("24") && e.contains("19"),
        "{e}"
    );
    let mut b = numpy_arange_2x3();
    b.extend_from_slice(&[0; 4]);
    let e = err(&b);
    assert!(e.contains("28") && e.contains("24"), "{e}");
}

#[test]
fn absurd_shapes_do_not_allocate_or_overflow() {
    for shape in [
        "(18446744073709551615, 18446744073709551615)",
        "(4611686018427387904,)",
        "(1000000, 1000000, 1000000)",
        "(99999999999999999999999999,)",
    ] {
        let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let e = err(&file_v(1, &dict, &[0; 16]));
        assert!(e.contains("too large") || e.contains("truncated"), "{e}");
    }
}

#[test]
fn rejects_malformed_headers() {
    for dict in [
        "",
        "{",
        "}",
        "[]",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (1,)}",
        "{'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': '1'}",
        "{'descr': 4, 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} trailing",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
    ] {
        let e = err(&file_v(1, dict, &[0; 4]));
        assert!(e.starts_with("x.npy: "), "{e}");
    }
}

#[test]
fn rejects_bad_preambles() {
    assert!(err(b"").contains("not a NumPy"));
    assert!(err(b"PK\x03\x04 a zip, maybe an npz").contains("not a NumPy"));
    assert!(err(b"\x93NUMPY").contains("truncated"));
    assert!(err(b"\x93NUMPY\x01").contains("truncated"));
    assert!(err(b"\x93NUMPY\x04\x00\x10\x00").contains("version 4.0"));
    assert!(err(b"\x93NUMPY\x01\x00\x10").contains("truncated"));
    assert!(err(b"\x93NUMPY\x02\x00\x10\x00").contains("truncated"));
    let e = err(b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}");
    assert!(e.contains("4294967295") && e.contains("truncated"), "{e}");
    // Version 3.0 headers must be UTF-8; 1.0 headers are latin-1 (any byte decodes).
    let mut b = b"\x93NUMPY\x03\x00\x02\x00\x00\x00\xff\xfe".to_vec();
    assert!(err(&b).contains("UTF-8"));
    b[6] = 2;
    assert!(err(&b).contains("malformed"));
}

/// Every prefix and many single-byte corruptions of valid files give an error or a value,
/// never a panic.
#[test]
fn fuzz_truncations_and_corruptions() {
    let mut files = vec![
        numpy_arange_2x3(),
        npy_bytes_f32(&[], &[1.0]),
        file_v(
            3,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
            &[0; 8],
        ),
    ];
    files.push(npy_bytes_f32(&[1, 3, 4, 4], &[0.25; 48]));
    for f in &files {
        for n in 0..f.len() {
            let _ = parse_npy_f32(&f[..n], p());
        }
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..4000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut g = f.clone();
            let pos = (seed as usize) % g.len();
            g[pos] = (seed >> 32) as u8;
            if seed & 3 == 0 {
                let pos2 = (seed >> 16) as usize % g.len();
                g[pos2] = (seed >> 40) as u8;
            }
            if let Err(e) = parse_npy_f32(&g, p()) {
                assert!(!e.to_string().contains('\n'));
            }
        }
    }
    // Pure garbage after a valid preamble.
    let mut seed: u64 = 12345;
    for len in 0..300usize {
        let mut g = b"\x93NUMPY\x01\x00".to_vec();
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            g.push((seed >> 56) as u8);
        }
        let _ = parse_npy_f32(&g, p());
    }
}

#[test]
fn shape_strings() {
    assert_eq!(shape_string(&[]), "()");
    assert_eq!(shape_string(&[3]), "(3,)");
    assert_eq!(shape_string(&[1, 3, 224, 224]), "(1, 3, 224, 224)");
}
