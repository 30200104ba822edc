# SPDX-License-Identifier: GPL-3.0-or-later
# STEMFLOW_PYTHON: the Python module stemflow._core (python/). The interpreter is the one
# scikit-build-core passes (pip install .), else the test venv's (build/venv, made by
# tests/python/ensure_venv.sh, which `make test` runs before configuring), else python3; nanobind
# is found through that interpreter (`python -m nanobind --cmake_dir`). AUTO builds the module when
# both are there; ON requires them.
set(STEMFLOW_WITH_PYTHON OFF)
# A sanitized module cannot be loaded by an uninstrumented interpreter (the sanitizer's runtime
# must come first): AUTO builds none under STEMFLOW_SANITIZE, and python_package then skips.
if(STEMFLOW_PYTHON STREQUAL "AUTO" AND NOT STEMFLOW_SANITIZE STREQUAL "")
  message(STATUS "Python module: off under STEMFLOW_SANITIZE=${STEMFLOW_SANITIZE}")
elseif(NOT STEMFLOW_PYTHON STREQUAL "OFF")
  # The test venv's interpreter whenever it exists (also when an earlier configure, made before
  # the venv, cached another one); pip's build passes its own (SKBUILD).
  if(NOT SKBUILD AND EXISTS "${CMAKE_BINARY_DIR}/venv/bin/python")
    set(Python_EXECUTABLE "${CMAKE_BINARY_DIR}/venv/bin/python" CACHE FILEPATH
        "Python interpreter of the module" FORCE)
  endif()
  if(STEMFLOW_PYTHON STREQUAL "ON")
    find_package(Python 3.9 REQUIRED COMPONENTS Interpreter Development.Module)
  else()
    find_package(Python 3.9 QUIET COMPONENTS Interpreter Development.Module)
  endif()
  if(Python_FOUND)
    execute_process(COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir
                    OUTPUT_VARIABLE STEMFLOW_NANOBIND_DIR OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE nb_rc ERROR_QUIET)
    if(nb_rc EQUAL 0)
      find_package(nanobind CONFIG PATHS "${STEMFLOW_NANOBIND_DIR}" NO_DEFAULT_PATH)
    endif()
  endif()
  if(nanobind_FOUND)
    set(STEMFLOW_WITH_PYTHON ON)
    set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  elseif(STEMFLOW_PYTHON STREQUAL "ON")
    message(FATAL_ERROR "STEMFLOW_PYTHON=ON but nanobind is not importable by ${Python_EXECUTABLE} "
                        "(pip install nanobind)")
  else()
    message(STATUS "Python module: off (nanobind not importable by '${Python_EXECUTABLE}'; "
                   "tests/python/ensure_venv.sh ${CMAKE_BINARY_DIR}/venv, then reconfigure)")
  endif()
endif()
