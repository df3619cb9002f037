# ctest -R cuda_architectures: the CUDA kernels' library holds machine code (cubin) for every
# architecture it was configured for (EDGETUNE_CUDA_ARCHS; sm_87 and sm_90 among the defaults).
#   cmake [-DCUOBJDUMP=cuobjdump] -DLIB=libet_ops_cuda.a -DARCHS="80;87;90" -P check_cuda_archs.cmake
# With cuobjdump: its list of the embedded ELF files (name.sm_87.cubin). Without it (a toolkit
# with nvcc only): the ptxas command line every cubin records ("-arch sm_87").
if(CUOBJDUMP)
  execute_process(COMMAND "${CUOBJDUMP}" --list-elf "${LIB}" OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cuobjdump --list-elf ${LIB} failed (${rc}): ${err}")
  endif()
  set(how "cuobjdump --list-elf")
else()
  file(STRINGS "${LIB}" lines REGEX "-arch sm_[0-9]+")
  string(JOIN "\n" out ${lines})
  set(how "the cubins' ptxas options")
endif()
set(missing "")
foreach(a IN LISTS ARCHS)
  string(REGEX MATCH "^[0-9]+" sm "${a}")
  if(a MATCHES "virtual" OR sm STREQUAL "")
    continue()
  endif()
  if(out MATCHES "sm_${sm}[^0-9]" OR out MATCHES "sm_${sm}$")
    message(STATUS "${LIB}: sm_${sm} code present (${how})")
  else()
    list(APPEND missing "sm_${sm}")
  endif()
endforeach()
if(missing)
  message(FATAL_ERROR "${LIB} has no code for ${missing}; ${how} says:\n${out}")
endif()
