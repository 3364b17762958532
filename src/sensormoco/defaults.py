"""Every default value of the project, in one place.

Modules and the command line read their defaults from here; nothing else hard-codes them.
"""

from __future__ import annotations

SEED = 0

# Labels (docs/design.md §2): multi-label threshold on class fractions, default scheme.
LABEL_THRESHOLD = 0.1
LABEL_SCHEME = "igbp10"
# A probability pickle disagrees with the lc file when any fraction differs by more than this.
PROBABILITY_TOLERANCE = 1e-3
# A pickle entry's 17 fractions must sum to 1 within this, or the entry is skipped.
PROBABILITY_SUM_TOLERANCE = 1e-3
# Ties and the threshold are decided within this margin: rounding of count / n sums is ~1e-15,
# while genuinely different fractions differ by at least 1 / n (>= 1e-6 for real patches).
LABEL_EPS = 1e-9

# Non-overlapping subset: drop a patch overlapping a kept one by more than this share of its area.
MAX_OVERLAP_FRACTION = 0.001

# A raster whose header declares more pixel data than this is refused before reading (a corrupt
# header must not allocate exabytes); a SEN12MS S2 patch is 1.7 MB, BigEarthNet's far less.
MAX_RASTER_BYTES = 2**30

# Packing a store commits rows in chunks of about this many MiB (at 256 px: 48 patches), so an
# interrupted pack resumes at the last whole chunk.
PACK_CHUNK_MIB = 128

# Label budgets: default size and the share of a budget used for training (rest: validation).
LABEL_BUDGET = 1024
BUDGET_TRAIN_FRACTION = 0.8
# Splits: share of train patches moved (by whole scenes) to validation. Validation scenes hold
# the share of a budget drawn from them, so the default budget fits the embedded default (about
# 1,800 non-test patches: budget 1024 needs 205 validation patches).
VAL_FRACTION = round(1.0 - BUDGET_TRAIN_FRACTION, 6)
DEMO_VAL_FRACTION = VAL_FRACTION

# S1 preprocessing as in the SEN12MS classification code: nan_to_num, then clip (dB).
S1_CLIP_DB = (-25.0, 0.0)
# S2 preprocessing: clip reflectance x 1e4.
S2_CLIP = (0.0, 10000.0)

# Synthetic SEN12MS (the embedded default): scenes, patches per scene side, patch size.
SYNTH_SCENES = 32
SYNTH_GRID = 8
SYNTH_SIZE = 64

# Data commands: worker processes (0 = in this process); the demo uses both cores.
SCAN_WORKERS = 0
DEMO_WORKERS = 2
DEMO_OUT = "demo"
# How many individual problems a command prints before pointing to the full list.
SHOWN_PROBLEMS = 20

# Band sets read by default (names from data/bands.py), and those `stats` computes.
S1_BANDS = "s1"
S2_BANDS = "s2-land"
STATS_S1_BANDS = "s1"
STATS_S2_BANDS = "s2-all"

# MoCo v2 (docs/design.md §3; the paper's settings are the `paper` preset).
BACKBONE = "resnet50"
ADAPTER = "conv1"  # the backbone's first convolution takes the N bands
MOCO_DIM = 128  # projection output dimension
MOCO_QUEUE_SIZE = 65536  # K, negative keys
MOCO_KEY_MOMENTUM = 0.999  # m, key-encoder momentum
MOCO_TEMPERATURE = 0.2  # T
MOCO_BN_SPLITS = 2  # BN sub-batches per process; >= 2 on one process (no BN leak, see MoCo)

# Pre-training (docs/design.md §3; the `paper` preset spells these out). batch size is per process:
# the global batch is PRETRAIN_BATCH_SIZE x devices x nodes, and the queue must be a multiple.
PRETRAIN_AUGMENT = "paper"  # the preset of every mode but sensor-pairs (which takes "none")
PRETRAIN_INPUT = "s1s2"  # the input of mode `augment` (the other modes use both sensors)
PRETRAIN_EPOCHS = 200
PRETRAIN_BATCH_SIZE = 64
PRETRAIN_CROP_SIZE = 224  # SEN12MS patches are 256 px
PRETRAIN_LR = 0.03
PRETRAIN_SCHEDULE = "cosine"  # learning-rate schedule over all steps, stepped per step
PRETRAIN_SGD_MOMENTUM = 0.9
PRETRAIN_WEIGHT_DECAY = 1e-4
# Data-loading processes per training process; None: the machine's cores (its CPU affinity)
# shared by the training processes on it, less one for each main process, at least 1.
PRETRAIN_WORKERS: int | None = None
PRETRAIN_PRECISION = "32"
PRETRAIN_LOG_EVERY = 10  # steps between logged rows
PRETRAIN_SUMMARY_STEPS = 20  # summary.json also reports loss and pos_acc averaged over these
PRETRAIN_DIAGNOSTICS_EVERY = 50  # steps between modality-gap diagnostics (0: none)
PRETRAIN_CHECKPOINT_EVERY = 500  # steps between writes of checkpoints/last.ckpt (and at the end)

# Transfer evaluation (docs/design.md §3 "Transfer evaluation").
EVAL_PROTOCOL = "linear"  # linear | finetune | knn
EVAL_INPUT = "s2"
EVAL_SEEDS = (0, 1, 2)
EVAL_BATCH_SIZE = 64
EVAL_EPOCHS = 30  # epochs over the budget's training part; the best validation epoch is kept
EVAL_LINEAR_LR = 0.1  # SGD lr of a classifier fit unless one is given (FitConfig)
# Learning rates tried per seed when --lr is not given; the best on validation is kept. The
# linear probe trains on cached features (a grid costs little); fine-tuning trains the whole
# network per value, so its grid is short (the supervised-from-scratch baseline uses it too).
EVAL_LINEAR_LR_GRID = (0.01, 0.1, 1.0)
EVAL_FINETUNE_LR_GRID = (0.01, 0.03)
# Fine-tuning augmentation (training batches only): flips and 90-degree rotations (one of the
# 8 symmetries of the square, uniformly), then a random resized crop keeping this area share.
EVAL_CROP_SCALE = (0.5, 1.0)
EVAL_CROP_RATIO = (3 / 4, 4 / 3)
EVAL_WEIGHT_DECAY = 0.0
EVAL_SGD_MOMENTUM = 0.9
KNN_K = 20  # neighbours voted over (cosine similarity)
KNN_TEMPERATURE = 0.07  # neighbour votes weighted by exp(similarity / T)
RETRIEVAL_KS = (1, 5, 10)  # recall@k of cross-modal retrieval
MULTI_LABEL_THRESHOLD = 0.5  # sigmoid score above which a class is predicted

# Console progress when stderr is not a terminal: a line every tenth of a step and at least
# every PROGRESS_SECONDS, none in a step's first PROGRESS_QUIET_SECONDS (its summary suffices).
PROGRESS_SECONDS = 60.0
PROGRESS_QUIET_SECONDS = 5.0
