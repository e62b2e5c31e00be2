"""Stage 2: synthesize NI-LR / NI-HR / UI-HR / guide pairs into schema-v1 shards."""

from datagen.synth.config import SynthConfig
from datagen.synth.engine import SynthSummary, plan_jobs, synth
from datagen.synth.pairs import SamplePlan, plan_batch
from datagen.synth.synthesizer import Synthesizer

__all__ = ["SamplePlan", "SynthConfig", "SynthSummary", "Synthesizer", "plan_jobs",
           "plan_batch", "synth"]
