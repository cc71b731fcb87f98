"""Export: subnets as Hugging Face folders (stock or the compact type), ONNX, the hub, supernet folders."""
