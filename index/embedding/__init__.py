"""Embedding: the `Encoder` protocol and the registry of models (`encoder`), the packaged
all-MiniLM-L6-v2 through ONNX Runtime (`onnx_encoder`, exported once by `onnx_export`) and the
content-hash cache of vectors (`cache`), and embedding on a Dask cluster (`distributed`). Heavy
libraries are imported on first use only."""
