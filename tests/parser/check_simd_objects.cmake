# Run by ctest (taut_parser_simd_objects): the objects of the instruction-set sources in
# parser/src/simd/ must define no weak function. Each is compiled with its own -m flags; a weak
# function it defines (an inline function of a shared header the compiler did not inline) is one
# the linker may pick for every caller in the program, which would then run, say, AVX-512
# instructions on a CPU that lacks them. Data (char tables) is the same whatever the flags.
#   cmake -DNM=<nm> -DOBJECTS=<objects of taut_parser, ;-separated> -P check_simd_objects.cmake
set(checked 0)
set(found "")
foreach(object IN LISTS OBJECTS)
  if(NOT object MATCHES "/simd/(sse42|avx2|avx512)\\.cpp\\.o(bj)?$")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  execute_process(COMMAND "${NM}" --defined-only -P "${object}" OUTPUT_VARIABLE symbols
                  RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${object}")
  endif()
  string(REPLACE "\n" ";" lines "${symbols}")
  foreach(line IN LISTS lines)
    # nm -P: "name type value size"; W and w are weak symbols that are not marked as objects.
    if(line MATCHES "^([^ ]+) [Ww] ")
      list(APPEND found "${object}: ${CMAKE_MATCH_1}")
    endif()
  endforeach()
endforeach()
if(checked EQUAL 0)
  message(FATAL_ERROR "no instruction-set object among: ${OBJECTS}")
endif()
if(found)
  list(JOIN found "\n  " lines)
  message(FATAL_ERROR "weak functions in instruction-set objects (demangle with c++filt):\n  ${lines}")
endif()
message(STATUS "${checked} instruction-set objects define no weak function")
