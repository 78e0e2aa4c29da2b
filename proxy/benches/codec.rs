//! Micro-benchmarks of the relay hot path: decoding a client command, framing it for the backend, and scanning a
//! backend response (a point-select result and a 1000-row result) without decoding rows.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shardgate_proxy::protocol::codec::{write_packets, PacketCodec};
use shardgate_proxy::protocol::packets::eof_payload;
use shardgate_proxy::protocol::response::{Expect, ResponseScanner};
use tokio_util::codec::Decoder;

const COLDEF: &[u8] =
    b"\x03def\x06sbtest\x07sbtest1\x07sbtest1\x01c\x01c\x0c\x21\x00\xe0\x01\x00\x00\xfe\x81\x10\x00\x00\x00";

fn response(rows: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    let mut seq = 1;
    write_packets(&mut out, &mut seq, &[1]);
    write_packets(&mut out, &mut seq, COLDEF);
    let mut row = vec![120u8];
    row.extend(std::iter::repeat_n(b'x', 120));
    for _ in 0..rows {
        write_packets(&mut out, &mut seq, &row);
    }
    let mut eof = BytesMut::new();
    eof_payload(&mut eof, 0x0002, true);
    write_packets(&mut out, &mut seq, &eof);
    out.to_vec()
}

fn bench(c: &mut Criterion) {
    let mut cmd = BytesMut::new();
    let mut seq = 0;
    write_packets(&mut cmd, &mut seq, b"\x03SELECT c FROM sbtest1 WHERE id=5012");
    let cmd = cmd.freeze();
    c.bench_function("decode_command", |b| {
        let mut codec = PacketCodec { max_payload: 1 << 30 };
        b.iter(|| {
            let mut buf = BytesMut::from(&cmd[..]);
            black_box(codec.decode(&mut buf).unwrap())
        })
    });
    c.bench_function("frame_command", |b| {
        let mut out = BytesMut::with_capacity(256);
        b.iter(|| {
            out.clear();
            let mut seq = 0;
            write_packets(&mut out, &mut seq, black_box(&cmd[4..]));
        })
    });
    let one = response(1);
    c.bench_function("scan_point_select_response", |b| {
        b.iter(|| {
            let mut s = ResponseScanner::new(Expect::Results, true);
            black_box(s.scan(black_box(&one)).unwrap());
            assert!(s.is_done());
        })
    });
    let many = response(1000);
    let mut g = c.benchmark_group("scan_1000_rows");
    g.throughput(Throughput::Bytes(many.len() as u64));
    g.bench_function("whole_buffer", |b| {
        b.iter(|| {
            let mut s = ResponseScanner::new(Expect::Results, true);
            black_box(s.scan(black_box(&many)).unwrap());
        })
    });
    g.bench_function("16k_reads", |b| {
        b.iter(|| {
            let mut s = ResponseScanner::new(Expect::Results, true);
            let mut pending: Vec<u8> = Vec::with_capacity(32 * 1024);
            for chunk in many.chunks(16 * 1024) {
                pending.extend_from_slice(chunk);
                let n = s.scan(&pending).unwrap();
                pending.drain(..n);
            }
            assert!(s.is_done());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
