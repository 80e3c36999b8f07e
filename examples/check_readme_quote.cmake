# Fails unless README contains EXAMPLE's text verbatim inside a ```LANGUAGE block (```cpp unless
# LANGUAGE is given).
if(NOT LANGUAGE)
  set(LANGUAGE cpp)
endif()
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "```${LANGUAGE}\n${example}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} does not quote ${EXAMPLE} verbatim; paste the file into the README's ```${LANGUAGE} block again")
endif()
message(STATUS "${README} quotes ${EXAMPLE} verbatim")
