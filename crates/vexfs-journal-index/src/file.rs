//! The `<segment>.idx` file: the persisted index of one segment. Its bytes are defined
//! in [`vexfs_journal_format::index_file`]; this module adapts them to [`Terms`].

use vexfs_journal_format::FormatError;
pub use vexfs_journal_format::index_file::TermSections;
use vexfs_journal_format::index_file::{self, TermsRef};
pub use vexfs_journal_format::index_file::{
    HEADER_SIZE, INDEX_MAGIC, INDEX_VERSION, IndexHeader, SUMMARY_SIZE, check_section,
    decode_header, decode_summaries, section,
};

use crate::segment_index::{BlockSummary, Terms};

/// The whole file for a segment index and its terms.
pub fn encode_index(
    first_seq: u64,
    covered_end: u64,
    blocks: &[BlockSummary],
    terms: &Terms,
) -> Vec<u8> {
    let terms = TermsRef {
        paths: &terms.paths,
        agents: &terms.agents,
        txs: &terms.txs,
        refs: &terms.refs,
        ids: &terms.ids,
    };
    index_file::encode_index(first_seq, covered_end, blocks, terms)
}

/// Decodes the term sections.
pub fn decode_terms(sections: TermSections<'_>, block_count: u32) -> Result<Terms, FormatError> {
    let t = index_file::decode_terms(sections, block_count)?;
    Ok(Terms {
        paths: t.paths,
        agents: t.agents,
        txs: t.txs,
        refs: t.refs,
        ids: t.ids,
    })
}
