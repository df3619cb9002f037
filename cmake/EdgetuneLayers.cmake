# Layered libraries, enforced at configure time.
#
# et_layer(NAME <layer> DEPS <layers...> SOURCES <files...> [TORCH])
# creates the static library et_<layer> from src/<layer>/, links the libraries of DEPS, and fails
# the configure step if a file of the layer includes a public header of a layer that is not in its
# dependency closure (#include "edgetune/<other>/...") or reaches into another layer's private
# folder (#include "../..."). Public headers live in include/edgetune/<layer>/.

set(ET_INCLUDE_ROOT ${CMAKE_SOURCE_DIR}/include)

function(et_check_includes layer allowed)
  file(GLOB_RECURSE files
       ${CMAKE_SOURCE_DIR}/src/${layer}/*.cpp ${CMAKE_SOURCE_DIR}/src/${layer}/*.h
       ${ET_INCLUDE_ROOT}/edgetune/${layer}/*.h)
  if(layer STREQUAL "ops")
    # the op folders' torch side; their .cu/.cuh and raw launcher headers (*_cuda.h) are ops_cuda's
    list(FILTER files EXCLUDE REGEX "(\\.cuh|_cuda\\.h)$")
  elseif(layer STREQUAL "ops_cuda")
    file(GLOB_RECURSE files ${CMAKE_SOURCE_DIR}/src/ops/*.cu ${CMAKE_SOURCE_DIR}/src/ops/*.cuh
         ${CMAKE_SOURCE_DIR}/src/ops/*_cuda.h)
  endif()
  foreach(f ${files})
    file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line ${lines})
      set(target_layer "")
      if(line MATCHES "#[ \t]*include[ \t]*\"edgetune/([a-z_]+)/")
        set(target_layer ${CMAKE_MATCH_1})
      elseif(line MATCHES "#[ \t]*include[ \t]*\"ops/[a-z_0-9]+/[a-z_0-9]+(_cuda\\.h|\\.cuh)\"")
        set(target_layer ops_cuda)  # an op's raw CUDA launchers or device helpers
      elseif(line MATCHES "#[ \t]*include[ \t]*\"ops/")
        set(target_layer ops)       # an op's folder: src/ops/<op>/<file>.h
      endif()
      if(target_layer STREQUAL layer OR (layer STREQUAL "ops" AND target_layer STREQUAL "ops_cuda"))
        # the same layer (the torch side of an op may call its own launchers)
      elseif(target_layer)
        list(FIND allowed ${target_layer} idx)
        if(idx EQUAL -1)
          message(FATAL_ERROR "layering: ${f} (layer '${layer}') includes a header of layer "
                              "'${target_layer}', which '${layer}' may not depend on "
                              "(allowed: ${allowed})")
        endif()
      elseif(line MATCHES "#[ \t]*include[ \t]*\"\\.\\./")
        message(FATAL_ERROR "layering: ${f} reaches into another folder with '${line}'; "
                            "use a public header under include/edgetune/")
      endif()
    endforeach()
  endforeach()
endfunction()

# Transitive closure of declared layer dependencies.
function(et_layer_closure out)
  set(result "")
  set(queue ${ARGN})
  while(queue)
    list(POP_FRONT queue item)
    list(FIND result ${item} idx)
    if(idx EQUAL -1)
      list(APPEND result ${item})
      get_property(sub GLOBAL PROPERTY ET_LAYER_DEPS_${item})
      list(APPEND queue ${sub})
    endif()
  endwhile()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(et_layer)
  cmake_parse_arguments(L "TORCH" "NAME" "DEPS;SOURCES" ${ARGN})
  set_property(GLOBAL PROPERTY ET_LAYER_DEPS_${L_NAME} ${L_DEPS})
  et_layer_closure(allowed ${L_DEPS})
  et_check_includes(${L_NAME} "${allowed}")
  if(L_SOURCES)
    add_library(et_${L_NAME} STATIC ${L_SOURCES})
    set(vis PUBLIC)
    # Up to EDGETUNE_UNITY_BATCH files of a layer compile as one translation unit: with libtorch's
    # headers precompiled, most of a file's compile time is the inline code of the headers it
    # uses, generated again in every file. A file with compile options of its own stays out
    # (SKIP_UNITY_BUILD_INCLUSION, see src/CMakeLists.txt).
    if(EDGETUNE_UNITY)
      set_target_properties(et_${L_NAME} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${EDGETUNE_UNITY_BATCH})
    endif()
    target_include_directories(et_${L_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/src/${L_NAME})
  else()
    add_library(et_${L_NAME} INTERFACE)  # a layer with no sources yet
    set(vis INTERFACE)
  endif()
  target_include_directories(et_${L_NAME} ${vis} ${ET_INCLUDE_ROOT} ${CMAKE_BINARY_DIR}/generated)
  foreach(dep ${L_DEPS})
    if(TARGET et_${dep})
      target_link_libraries(et_${L_NAME} ${vis} et_${dep})
    endif()
  endforeach()
  if(L_TORCH)
    target_link_libraries(et_${L_NAME} ${vis} ${TORCH_LIBRARIES})
    separate_arguments(torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
    foreach(flag ${torch_flags})
      target_compile_options(et_${L_NAME} ${vis} $<$<COMPILE_LANGUAGE:CXX>:${flag}>)
    endforeach()
    # libtorch's headers dominate compile time: every torch layer reuses one precompiled header.
    if(L_SOURCES AND EDGETUNE_PCH)
      target_precompile_headers(et_${L_NAME} REUSE_FROM et_torch_pch)
    endif()
  endif()
  set(ET_LAYER_VIS ${vis} PARENT_SCOPE)
endfunction()
