"""`corrigibench finetune` and `corrigibench probe`: model organisms made by LoRA fine-tuning.

See README.md beside this file. Needs the `finetune` extra (torch, transformers, peft, gguf).
"""
