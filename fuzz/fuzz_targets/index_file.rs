//! `<segment>.idx` files (`vexfs_journal_format::index_file`), decoded the way the index
//! loader does (header, section checksums, block summaries, terms): never panic; a
//! decoded file re-encodes to one that decodes to the same summaries and terms, and the
//! in-memory segment index built from it answers time windows within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::index_file::{
    SECTIONS, TermSections, check_section, decode_header, decode_summaries, section,
};
use vexfs_journal_index::SegmentIndex;
use vexfs_journal_index::file::{decode_terms, encode_index};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_index_file(&mut sealed);
    if sealed != data {
        check(&sealed);
    }
});

fn sections<'a>(data: &'a [u8], table: &[(u64, u64, u32); SECTIONS]) -> [&'a [u8]; SECTIONS] {
    table.map(|(off, len, _)| {
        let end = off
            .checked_add(len)
            .expect("header checked the section end");
        data.get(off as usize..end as usize)
            .expect("header checked the section lies in the file")
    })
}

fn term_sections<'a>(secs: &[&'a [u8]; SECTIONS]) -> TermSections<'a> {
    TermSections {
        paths: secs[section::PATHS],
        agents: secs[section::AGENTS],
        txs: secs[section::TXS],
        refs: secs[section::REFS],
        ids: secs[section::IDS],
    }
}

fn check(data: &[u8]) {
    let Ok(header) = decode_header(data, data.len() as u64) else {
        return;
    };
    let secs = sections(data, &header.sections);
    for (bytes, (_, _, crc)) in secs.iter().zip(header.sections) {
        if check_section(bytes, crc, "section").is_err() {
            return;
        }
    }
    let Ok(summaries) = decode_summaries(secs[section::BLOCKS], header.block_count) else {
        return;
    };
    let terms = decode_terms(term_sections(&secs), header.block_count);
    let index =
        SegmentIndex::from_summaries(header.first_seq, header.covered_end, summaries.clone());
    let window = index.time_window(Some(i64::MIN), Some(i64::MAX));
    assert!(
        window.0 <= window.1 && window.1 <= summaries.len(),
        "time window {window:?}"
    );
    let Ok(terms) = terms else {
        return;
    };
    let out = encode_index(header.first_seq, header.covered_end, &summaries, &terms);
    let again = decode_header(&out, out.len() as u64).expect("re-encoded header decodes");
    assert_eq!(again.first_seq, header.first_seq);
    assert_eq!(again.covered_end, header.covered_end);
    assert_eq!(again.block_count, header.block_count);
    let secs = sections(&out, &again.sections);
    for (bytes, (_, _, crc)) in secs.iter().zip(again.sections) {
        check_section(bytes, crc, "section").expect("re-encoded section checks");
    }
    let again_summaries =
        decode_summaries(secs[section::BLOCKS], again.block_count).expect("summaries decode");
    assert_eq!(again_summaries, summaries);
    let again_terms =
        decode_terms(term_sections(&secs), again.block_count).expect("terms decode");
    assert_eq!(again_terms, terms);
}
