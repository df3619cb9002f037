# Registers one CTest entry per GoogleTest suite of a test program, at ctest time (a
# TEST_INCLUDE_FILES script written by et_test in tests/CMakeLists.txt; the program is listed
# when it is newer than the cached list, so a cross build configures without running it).
#
# Why suites and not single tests: a test program that links libtorch spends about 1.3 s of CPU
# starting (its operator registry), and most tests take less than that, so one process per test
# spent about a third of the suite's time starting programs. A suite's tests share a fixture and
# run in order within one process, as `test_<layer> --gtest_filter=<Suite>.*` does by hand.
#
# Inputs (set by the including script): ET_BIN (program), ET_LIST (cache of its suites),
# ET_PREFIX (entry names are <prefix>.<Suite>), ET_LABELS, ET_COST (seconds per test, CTest's
# COST is that times the suite's tests), ET_TIMEOUT, ET_WORKDIR, ET_SKIP (suites registered on
# their own, left out here).

if(NOT EXISTS "${ET_BIN}")
  add_test("${ET_PREFIX}_NOT_BUILT" "${ET_BIN}")
  return()
endif()

if(NOT EXISTS "${ET_LIST}" OR "${ET_BIN}" IS_NEWER_THAN "${ET_LIST}")
  execute_process(COMMAND "${ET_BIN}" --gtest_list_tests WORKING_DIRECTORY "${ET_WORKDIR}"
                  OUTPUT_VARIABLE listing ERROR_VARIABLE listing_err RESULT_VARIABLE rc TIMEOUT 60)
  if(NOT rc EQUAL 0)
    message(WARNING "${ET_BIN} --gtest_list_tests failed (${rc}): ${listing_err}")
    add_test("${ET_PREFIX}_NOT_LISTED" "${ET_BIN}" --gtest_list_tests)
    return()
  endif()
  # "Suite.\n  Test\n  Test2  # GetParam() = ...\n": comments out, one name per line.
  string(REGEX REPLACE "#[^\n]*" "" listing "${listing}")
  string(REPLACE ";" "" listing "${listing}")
  string(REPLACE "\n" ";" lines "${listing}")
  set(suites "")
  set(suite "")
  set(count 0)
  foreach(line IN LISTS lines)
    string(STRIP "${line}" name)
    if(name STREQUAL "")
      continue()
    endif()
    if(line MATCHES "^[^ ]")  # a suite: "Suite."
      if(NOT suite STREQUAL "" AND count GREATER 0)
        list(APPEND suites "${suite}:${count}")
      endif()
      string(REGEX REPLACE "\\.$" "" suite "${name}")
      set(count 0)
      if(suite MATCHES "^DISABLED_" OR suite MATCHES "/DISABLED_")
        set(suite "")
      endif()
    elseif(NOT name MATCHES "^DISABLED_")
      math(EXPR count "${count} + 1")
    endif()
  endforeach()
  if(NOT suite STREQUAL "" AND count GREATER 0)
    list(APPEND suites "${suite}:${count}")
  endif()
  file(WRITE "${ET_LIST}" "${suites}")
endif()

file(READ "${ET_LIST}" suites)
foreach(entry IN LISTS suites)
  string(REGEX MATCH "^(.*):([0-9]+)$" _ "${entry}")
  set(suite "${CMAKE_MATCH_1}")
  set(count "${CMAKE_MATCH_2}")
  list(FIND ET_SKIP "${suite}" skipped)  # (no IN_LIST: ctest runs this without policy CMP0057)
  if(NOT skipped EQUAL -1)
    continue()
  endif()
  math(EXPR cost "${ET_COST} * ${count}")
  set(test_name "${ET_PREFIX}.${suite}")
  add_test("${test_name}" "${ET_BIN}" "--gtest_filter=${suite}.*")
  set_tests_properties("${test_name}" PROPERTIES LABELS "${ET_LABELS}" TIMEOUT "${ET_TIMEOUT}" COST "${cost}"
                       WORKING_DIRECTORY "${ET_WORKDIR}")
endforeach()
