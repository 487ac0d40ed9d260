#!/usr/bin/env bash
# Regenerates daemon/adapters/mexc/proto/mexc_push_pb2.py(.pyi) from mexc_push.proto.
# Needs grpcio-tools (pip install grpcio-tools); the generated files are committed so that
# a user's machine needs only the protobuf runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=daemon/adapters/mexc/proto
python -m grpc_tools.protoc -I "$dir" --python_out="$dir" --pyi_out="$dir" "$dir/mexc_push.proto"
