# Run by ctest (taut_public_headers): every public header compiles on its own, in a translation unit
# that includes nothing else, under the strict warnings an embedder's own build may turn into
# errors (a header is compiled with the consumer's flags, not taut's): each .hpp as C++20, and
# taut.h as C99 and as C++. A header that needs another one first, or that warns, fails here.
#   cmake -DCXX_COMPILER=<c++ compiler> -DC_COMPILER=<c compiler> -DINCLUDE_DIRS=<dirs, ;-separated>
#         -DWORK_DIR=<scratch dir> -P check_public_headers.cmake
cmake_minimum_required(VERSION 3.22)
set(strict -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wundef -Wcast-qual
           -Werror)
set(cxx_flags -std=c++20 ${strict} -Wold-style-cast -Wzero-as-null-pointer-constant -Wextra-semi
              -Wnon-virtual-dtor)
set(c_flags -std=c99 ${strict} -Wstrict-prototypes -Wmissing-prototypes -Wc++-compat)
set(include_flags "")
foreach(dir IN LISTS INCLUDE_DIRS)
  list(APPEND include_flags "-I${dir}")
endforeach()
file(MAKE_DIRECTORY "${WORK_DIR}")

set(failed "")
set(checked 0)
# check(<language> <header> <source suffix> <flags...>)
function(check language header suffix)
  string(MAKE_C_IDENTIFIER "${header}" name)
  set(source "${WORK_DIR}/${name}${suffix}")
  file(WRITE "${source}" "#include <${header}>\n")
  if(language STREQUAL "C")
    set(compiler "${C_COMPILER}")
  else()
    set(compiler "${CXX_COMPILER}")
  endif()
  execute_process(COMMAND "${compiler}" ${ARGN} ${include_flags} -fsyntax-only "${source}"
                  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT status EQUAL 0)
    message(STATUS "${header} (${language}):\n${output}")
    set(failed ${failed} "${header} (${language})" PARENT_SCOPE)
  endif()
  math(EXPR n "${checked} + 1")
  set(checked ${n} PARENT_SCOPE)
endfunction()

foreach(dir IN LISTS INCLUDE_DIRS)
  file(GLOB_RECURSE headers RELATIVE "${dir}" "${dir}/*.hpp" "${dir}/*.h")
  foreach(header IN LISTS headers)
    if(header MATCHES "\\.h$")
      check(C "${header}" .c ${c_flags})
      check(CXX "${header}" .cpp -std=c++11 ${strict} -Wold-style-cast
            -Wzero-as-null-pointer-constant)
    else()
      check(CXX "${header}" .cpp ${cxx_flags})
    endif()
  endforeach()
endforeach()
if(checked EQUAL 0)
  message(FATAL_ERROR "no header found in ${INCLUDE_DIRS}")
endif()
if(failed)
  list(JOIN failed ", " failed)
  message(FATAL_ERROR "public headers that do not compile alone without warnings: ${failed}")
endif()
message(STATUS "${checked} compilations of public headers, each alone: no error, no warning")
