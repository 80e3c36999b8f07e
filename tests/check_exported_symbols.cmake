# Run by ctest (taut_exported_symbols): every library defines, as global symbols, only taut's API:
# C++ names in namespace taut (mangled _ZN4taut..., with their vtables, typeinfo, guards and
# local statics) and the C functions of taut.h (taut_...). Any other global name lands in the
# program that links taut and collides with the embedder's own: a C server with a function
# `open_ring` of its own would fail to link. (A function declared extern "C" keeps its plain name
# whatever namespace holds it, and GCC exports it even from an unnamed namespace: make it static.)
# Names starting with "__" are the implementation's (sanitizer and coverage instrumentation).
# A shared library (BUILD_SHARED_LIBS=ON) exports nothing of the internal namespaces taut::detail
# and taut::transport::detail either, but the exceptions cmake/taut-exports.map lists.
#   cmake -DNM=<nm> -DLIBRARIES=<library files, ;-separated> -P check_exported_symbols.cmake
set(allowed "^(taut_|__|_Z(TV|TI|TS|GV|Th[n0-9]+_|Tv[n0-9_]+_)?Z?N?K?4taut)")
set(internal "^_ZN?K?4taut(9transport)?6detail")
set(internal_exceptions "^_ZN4taut(6detail(14skip_token_run|20skip_field_value_run|24static_files_use_openat2)|9transport6detail20tls_force_socket_bio)E")
set(found "")
set(checked 0)
foreach(library IN LISTS LIBRARIES)
  math(EXPR checked "${checked} + 1")
  execute_process(COMMAND "${NM}" -g --defined-only -P "${library}" OUTPUT_VARIABLE symbols
                  RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${library}")
  endif()
  string(REPLACE "\n" ";" lines "${symbols}")
  foreach(line IN LISTS lines)
    # nm -P: "name type value size" (an archive adds "archive[member]:" lines). Strong definitions
    # only: code, data, bss, read-only data (weak ones are inline functions and templates).
    if(NOT line MATCHES "^([^ ]+) [TDBRGS] ")
      continue()
    endif()
    set(symbol "${CMAKE_MATCH_1}")
    if(NOT symbol MATCHES "${allowed}")
      get_filename_component(name "${library}" NAME)
      list(APPEND found "${name}: ${symbol}")
    elseif(library MATCHES "\\.so(\\.[0-9.]+)?$" AND symbol MATCHES "${internal}"
           AND NOT symbol MATCHES "${internal_exceptions}")
      get_filename_component(name "${library}" NAME)
      list(APPEND found "${name}: ${symbol} (internal, exported by a shared library)")
    endif()
  endforeach()
endforeach()
if(checked EQUAL 0)
  message(FATAL_ERROR "no library given")
endif()
if(found)
  list(JOIN found "\n  " found)
  message(FATAL_ERROR "global symbols outside taut's API (namespace taut, taut_*):\n  ${found}")
endif()
message(STATUS "${checked} libraries define no global symbol outside taut's API")
