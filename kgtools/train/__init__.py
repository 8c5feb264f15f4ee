"""The three-stage knowledge-injection fine-tune of an MoE model (``kg_sft`` → ``distill`` → ``reinforce``),
with LoRA through PEFT, expert-specialised training and expert-routing statistics."""
