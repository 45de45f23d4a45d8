//! State shared by every request: the configuration, the current rules snapshot, metrics and the
//! parsed HTML selectors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use arc_swap::ArcSwap;

use crate::admin::metrics::Metrics;
use crate::config::Config;
use crate::html::Selectors;
use crate::rules::{Rules, RulesError};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The rules do not load.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The HTML selectors did not parse.
    #[error("HTML selectors: {0}")]
    Selectors(#[from] lol_html::errors::SelectorError),
}

/// Everything requests share.
#[derive(Debug)]
pub struct Engine {
    /// The validated configuration.
    pub config: Config,
    rules: ArcSwap<Rules>,
    generation: AtomicU64,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Selectors for the HTML neutralizer.
    pub selectors: Arc<Selectors>,
}

impl Engine {
    /// Loads the rules named by the config and sets up metrics.
    pub fn new(config: Config) -> Result<Self, StartError> {
        let rules = Rules::load(&config.rule_files, &config.policy.categories)?;
        Self::with_rules(config, rules)
    }

    /// An engine with an already compiled rule set (the demo ships its rules in the binary).
    pub fn with_rules(config: Config, rules: Rules) -> Result<Self, StartError> {
        let engine = Engine {
            config,
            rules: ArcSwap::from_pointee(rules),
            generation: AtomicU64::new(1),
            metrics: Metrics::new()?,
            selectors: Arc::new(Selectors::new()?),
        };
        engine.publish_rule_metrics();
        Ok(engine)
    }

    /// The current rules; a request holds this snapshot for its whole life.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.load_full()
    }

    /// Generation of the current rules (1 at start, +1 per successful reload).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reloads the rule files: the new set is compiled completely before it replaces the old
    /// one; on error the old set stays and the error is returned (and counted).
    pub fn reload(&self) -> Result<u64, RulesError> {
        match Rules::load(&self.config.rule_files, &self.config.policy.categories) {
            Ok(rules) => {
                self.rules.store(Arc::new(rules));
                let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
                self.metrics
                    .rule_reloads
                    .with_label_values(&["success"])
                    .inc();
                self.publish_rule_metrics();
                tracing::info!(generation, "rules reloaded");
                Ok(generation)
            }
            Err(e) => {
                self.metrics
                    .rule_reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(error = %e, "rules reload failed, keeping the current rules");
                Err(e)
            }
        }
    }

    fn publish_rule_metrics(&self) {
        let rules = self.rules();
        let m = &self.metrics;
        m.rules_generation
            .set(i64::try_from(self.generation()).unwrap_or(i64::MAX));
        let loaded = rules
            .loaded_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        m.rules_loaded_timestamp.set(loaded);
        let c = rules.counts();
        for (kind, n) in [
            ("cookie", c.cookies),
            ("resource", c.resources),
            ("signature", c.signatures),
            ("allow", c.allows),
        ] {
            m.rules
                .with_label_values(&[kind])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}
