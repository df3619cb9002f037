// Compiles the precompiled libtorch header that the torch-using layers reuse (src/CMakeLists.txt).
