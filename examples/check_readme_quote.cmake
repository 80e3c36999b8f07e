# Fails unless README contains EXAMPLE's text verbatim inside a ```cpp block.
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "```cpp\n${example}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} does not quote ${EXAMPLE} verbatim; paste the file into the README's ```cpp block again")
endif()
message(STATUS "${README} quotes ${EXAMPLE} verbatim")
