#!/usr/bin/env python
"""Once-For-All compression of a BERT-family model on a GLUE task, end to end.

    python run_glue_ofa.py --task_name mrpc --model_name_or_path M --output_dir D [options]
    python run_glue_ofa.py --demo            # MiniLM-L6 on MRPC, a few minutes on CPU

Fine-tunes a teacher if M is not one (or takes --teacher_model), converts it to a supernet,
reorders heads and FFN neurons by importance (on training data), trains it with progressive
shrinking and distillation, then scores the largest, smallest and DynaBERT-grid subnets on
dev. Writes D/subnets.json, D/results.md and the supernet (D/supernet). --help lists options.
"""

import sys

from bert_ofa.app.cli import run_glue_ofa

if __name__ == "__main__":
    sys.exit(run_glue_ofa())
