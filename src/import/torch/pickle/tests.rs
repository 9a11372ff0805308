//! Unit tests of the pickle reader (kept in their own file).
use super::*;

/// Protocol-2 bytes of `{'a': [1, 2], 'b': 'x'}` as CPython 3 writes them, with the dict
/// memoized before it is filled.
#[test]
fn memoized_containers_are_seen_filled() {
    let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eX\x01\x00\x00\x00bq\x03X\x01\x00\x00\x00xq\x04u.";
    let u = unpickle(data).unwrap();
    let Obj::Dict(entries) = u.get(u.root) else {
        panic!("not a dict")
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(u.as_str(entries[0].0), Some("a"));
    assert!(matches!(u.get(entries[0].1), Obj::List(l) if l.len() == 2));
    assert_eq!(u.as_str(entries[1].1), Some("x"));
    assert_eq!(u.consumed, data.len());
}

#[test]
fn unknown_globals_are_refused_by_name() {
    // cos\nsystem\n(S'echo hi'\ntR.
    let data = b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03.";
    assert_eq!(
        unpickle(data).err(),
        Some(PickleError::Refused("os.system".into()))
    );
    let stack_global = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
    assert_eq!(
        unpickle(stack_global).err(),
        Some(PickleError::Refused("builtins.eval".into()))
    );
}

#[test]
fn truncated_and_garbage_streams_are_errors_not_panics() {
    let whole = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u.";
    for n in 0..whole.len() {
        assert!(unpickle(&whole[..n]).is_err(), "prefix of {n} bytes");
    }
    for junk in [
        &b"\xff\xff"[..],
        b"\x80\x02u.",
        b"\x80\x02h\x07.",
        b"X\xff\xff\xff\xff",
    ] {
        assert!(matches!(unpickle(junk), Err(PickleError::Malformed(_))));
    }
}

/// Old legacy files name a view of a root storage as
/// `('storage', cls, root_key, location, root_size, (view_key, offset, view_size))`.
#[test]
fn storage_views_keep_their_offset() {
    let objs = vec![
        Obj::Str("storage".into()),
        Obj::Global(Global::Storage(Dtype::F32)),
        Obj::Str("140".into()),
        Obj::Str("cpu".into()),
        Obj::Int(100),
        Obj::Str("141".into()),
        Obj::Int(40),
        Obj::Int(10),
        Obj::Tuple(vec![5, 6, 7]),
        Obj::Tuple(vec![0, 1, 2, 3, 4, 8]),
    ];
    let s = persistent_storage(&objs, 9).unwrap();
    assert_eq!(
        s,
        Obj::Storage {
            key: "140".into(),
            dtype: Dtype::F32,
            numel: 100,
            base: 40
        }
    );
}

#[test]
fn long1_holds_small_and_big_integers() {
    assert_eq!(long_from_le(&[0xff]), Obj::Int(-1));
    assert_eq!(long_from_le(&[0x00, 0x01]), Obj::Int(256));
    assert!(matches!(long_from_le(&[1; 10]), Obj::BigInt(_)));
}
