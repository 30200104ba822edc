# SPDX-License-Identifier: GPL-3.0-or-later
# add_stemflow_operator(<name> SOURCES <cpp...> [CUDA_SOURCES <cu...>] [LIBS <targets...>])
# Makes target op_<name>: the CPU operator, its registry entry (<name>_type.cpp reads the
# configuration: stemflow_config) and its GPU hook (<name>_gpu.cpp offers its task to the fused pass:
# stemflow_gpu_host, CUDA-free), plus its CUDA kernels when STEMFLOW_WITH_CUDA is on. The registry
# (operators/CMakeLists.txt) links every op_<name>.
function(add_stemflow_operator name)
  cmake_parse_arguments(ARG "" "" "SOURCES;CUDA_SOURCES;LIBS" ${ARGN})
  add_library(op_${name} STATIC ${ARG_SOURCES})
  target_link_libraries(op_${name} PUBLIC stemflow_core stemflow_config stemflow_gpu_host TBB::tbb
    ${ARG_LIBS})
  if(STEMFLOW_WITH_CUDA AND ARG_CUDA_SOURCES)
    target_sources(op_${name} PRIVATE ${ARG_CUDA_SOURCES})
    target_compile_definitions(op_${name} PUBLIC STEMFLOW_WITH_CUDA=1)
  endif()
  set_property(GLOBAL APPEND PROPERTY STEMFLOW_OPERATOR_TARGETS op_${name})
endfunction()

# add_stemflow_test(<name> SOURCES <cpp...> [LIBS <targets...>] [LABELS <labels...>]
#                   [FIXTURES <fixtures...>])
# One GoogleTest executable, registered with ctest through gtest_discover_tests; its tests carry
# the LABELS and the name of the folder they are declared in.
function(add_stemflow_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS;FIXTURES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main ${ARG_LIBS})
  target_compile_definitions(${name} PRIVATE
    STEMFLOW_SHARED_DIR="${STEMFLOW_SHARED_DIR}"
    STEMFLOW_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    STEMFLOW_BINARY_DIR="${CMAKE_BINARY_DIR}"
    STEMFLOW_TEST_VENV="${CMAKE_BINARY_DIR}/venv")
  include(GoogleTest)
  # The engine keeps FFTW wisdom in the user's cache folder (bragg_disks fft_wisdom = "auto"): tests
  # keep theirs in the build tree, so that they neither read nor write the user's.
  set(props ENVIRONMENT "XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache")
  if(ARG_LABELS)
    list(APPEND props LABELS "${ARG_LABELS}")
  endif()
  # The folder's name labels its tests (a directory property: gtest_discover_tests cannot pass a
  # list of labels), and tests_<folder> builds them: one folder can be built and run alone
  # (make test-tsan: the target tests_sinks, then ctest -L '^sinks$').
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  get_property(dir_labels DIRECTORY PROPERTY LABELS)
  if(NOT folder IN_LIST dir_labels)
    set_property(DIRECTORY APPEND PROPERTY LABELS ${folder})
  endif()
  if(NOT TARGET tests_${folder})
    add_custom_target(tests_${folder})
  endif()
  add_dependencies(tests_${folder} ${name})
  if(ARG_FIXTURES)
    list(APPEND props FIXTURES_REQUIRED "${ARG_FIXTURES}")
  endif()
  gtest_discover_tests(${name} PROPERTIES ${props} DISCOVERY_TIMEOUT 60)
endfunction()
