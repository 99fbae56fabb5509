"""The installed llama.cpp is the portable build the Makefile asks for (LLAMA_CMAKE_ARGS), not a native one.

A build with -march=native on a CPU with AMX crashed in its first matrix product on these machines, and a wheel
built natively on one machine may be handed to another by pip's cache.
"""

import re

import llama_cpp


def test_llama_cpp_is_built_without_machine_specific_instructions():
    features = llama_cpp.llama_print_system_info().decode()
    enabled = set(re.findall(r"(\w+) = 1", features))
    assert {"AVX2", "FMA", "F16C"} <= enabled, features
    assert not {f for f in enabled if f.startswith(("AMX", "AVX512"))}, features
