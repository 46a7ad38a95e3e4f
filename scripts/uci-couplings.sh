#!/usr/bin/env bash
# Issue 11's coupling table: the Geometric RT flow on the aligned UCI zoo with each of the four couplings
# (independent, minibatch OT, symmetry-aware, symmetry-aware + OT), trained with the CPU preset, 64 samples each
# (Euler 100), judged beside the three baselines; table.md lists training wall/CPU seconds per flow, the bars missed
# and the training loss per t bucket (five buckets) beside the loss of predicting the zoo mean on the same pairs.
#
#   scripts/uci-couplings.sh                   # seed 0 into results/uci-flows/seed0-couplings
#   SEED=1 scripts/uci-couplings.sh            # another seed
# Environment as scripts/uci-flows.sh (EXTRA, W, ZOO, WEIGHTFLOW_THREADS=1 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS="geometric:rt:independent geometric:rt:ot geometric:rt:symmetry geometric:rt:symmetry+ot" \
TAG="${TAG:-couplings}" exec scripts/uci-flows.sh
