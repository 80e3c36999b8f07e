# taut_discover_tests_on_backends(<target> <gtest_discover_tests arguments> PROPERTIES ...)
#
# Registers a GoogleTest executable's tests once per I/O backend of the event loop: "Name.epoll"
# and, when the io_uring backend is built, "Name.io_uring", each run with TAUT_IO set to its
# backend (the variable io_backend::automatic obeys, so every loop the tests and the servers they
# start make is on that backend). The arguments must end with PROPERTIES and its list.
include(GoogleTest)

#
# On a host where io_uring is refused the ".io_uring" copies would run on epoll: the executable
# gets tests/backend_check.cpp, which then prints a line that makes ctest count the test skipped
# rather than passed (the second alternative keeps GoogleTest's own "[  SKIPPED ]").
function(taut_discover_tests_on_backends target)
  set(backends epoll)
  if(TAUT_HAVE_IO_URING)
    list(APPEND backends io_uring)
    target_sources(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../tests/backend_check.cpp)
  endif()
  foreach(backend IN LISTS backends)
    set(skip "  SKIPPED ]")
    if(backend STREQUAL "io_uring")
      set(skip "taut: io_uring tests not run, the loops run on epoll here|  SKIPPED ]")
    endif()
    gtest_discover_tests(${target} TEST_SUFFIX ".${backend}" TEST_LIST ${target}_${backend}
                         ${ARGN} ENVIRONMENT TAUT_IO=${backend} SKIP_REGULAR_EXPRESSION "${skip}")
  endforeach()
endfunction()

# taut_add_test_on_backends(NAME <name> COMMAND <command>...): add_test once per backend, named
# <name>.epoll and <name>.io_uring, with TAUT_IO set. Sets TAUT_BACKEND_TESTS in the caller to
# the names made, for set_tests_properties.
function(taut_add_test_on_backends)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME" "COMMAND")
  set(backends epoll)
  if(TAUT_HAVE_IO_URING)
    list(APPEND backends io_uring)
  endif()
  set(names "")
  foreach(backend IN LISTS backends)
    add_test(NAME ${arg_NAME}.${backend} COMMAND ${arg_COMMAND})
    set_tests_properties(${arg_NAME}.${backend} PROPERTIES ENVIRONMENT TAUT_IO=${backend})
    list(APPEND names ${arg_NAME}.${backend})
  endforeach()
  set(TAUT_BACKEND_TESTS ${names} PARENT_SCOPE)
endfunction()
