//! Selector programs compiled once and shared between rewriters (consent-gate patch, see
//! PATCH.md).

use super::{Ast, Compiler, Program, Selector};
use encoding_rs::Encoding;
use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

/// How many programs a cache keeps; the oldest goes first.
const CAPACITY: usize = 8;

/// Selector programs kept for reuse between rewriters.
///
/// Building a rewriter compiles its element content handlers' selectors into a matching
/// program, which costs more than rewriting a small page. A rewriter whose [`Settings`] name a
/// cache (see [`Settings::with_selector_program_cache`]) takes the program compiled for the same
/// selectors, in the same order, under the same encoding and ESI setting, and compiles only
/// when there is none. A program depends on nothing else, so a cached one is the one the
/// rewriter would have compiled.
///
/// A cache holds at most 8 programs.
///
/// [`Settings`]: crate::Settings
/// [`Settings::with_selector_program_cache`]: crate::Settings::with_selector_program_cache
#[derive(Default)]
pub struct SelectorProgramCache {
    programs: Mutex<Vec<Compiled>>,
}

impl std::fmt::Debug for SelectorProgramCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectorProgramCache")
            .finish_non_exhaustive()
    }
}

struct Compiled {
    encoding: &'static Encoding,
    enable_esi_tags: bool,
    selectors: Box<[Selector]>,
    program: Arc<Program>,
}

/// The program matching `selectors`, their match ids being their positions.
pub(crate) fn compile(selectors: &[Cow<'_, Selector>], encoding: &'static Encoding) -> Program {
    let mut ast = Ast::default();
    for (match_id, selector) in selectors.iter().enumerate() {
        ast.add_selector(selector, match_id as _);
    }
    Compiler::new(encoding).compile(ast)
}

impl Compiled {
    fn is_for(
        &self,
        selectors: &[Cow<'_, Selector>],
        encoding: &'static Encoding,
        enable_esi_tags: bool,
    ) -> bool {
        self.encoding == encoding
            && self.enable_esi_tags == enable_esi_tags
            && self.selectors.len() == selectors.len()
            && self
                .selectors
                .iter()
                .zip(selectors)
                .all(|(kept, given)| kept.0 == given.0)
    }
}

impl SelectorProgramCache {
    /// A cache holding nothing yet.
    #[inline]
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The program for `selectors` (match ids are their positions), compiled now if the cache
    /// has none (under the lock, so that it is compiled once).
    pub(crate) fn program(
        &self,
        selectors: &[Cow<'_, Selector>],
        encoding: &'static Encoding,
        enable_esi_tags: bool,
    ) -> Arc<Program> {
        let mut programs = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = programs
            .iter()
            .find(|c| c.is_for(selectors, encoding, enable_esi_tags))
        {
            return Arc::clone(&c.program);
        }
        let program = Arc::new(compile(selectors, encoding));
        if programs.len() >= CAPACITY {
            programs.remove(0);
        }
        programs.push(Compiled {
            encoding,
            enable_esi_tags,
            selectors: selectors.iter().map(|s| s.as_ref().clone()).collect(),
            program: Arc::clone(&program),
        });
        program
    }
}
