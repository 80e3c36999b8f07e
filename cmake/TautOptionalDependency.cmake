# taut_optional_dependency(<target> <switch>
#     NAME <what the search finds> DEBIAN <the package that has it>
#     FIND_PACKAGE <find_package arguments> | FIND_HEADER <variable> <file> FIND_LIBRARY <variable> <name>
#     FOUND <variables that are all true when found> INCLUDE_DIR <variable> LINK <libraries>
#     ON_MESSAGE <status text, @VARIABLE@ filled in after the search> OFF_MESSAGE <status text>)
#
# Builds <target> with or without an optional dependency, as its AUTO/ON/OFF cache switch (e.g.
# TAUT_TLS) says: searched only unless OFF, a configure error when ON and not found. Sets the
# internal cache variable named after the switch (TAUT_TLS: TAUT_HAVE_TLS) and defines that name to
# 1 or 0 for <target>'s own sources. The libraries link privately by name, so the exported link
# interface of a static library says -lname and an installed taut needs no find_dependency().
function(taut_optional_dependency target switch)
  cmake_parse_arguments(PARSE_ARGV 2 dep "" "NAME;DEBIAN;INCLUDE_DIR;ON_MESSAGE;OFF_MESSAGE"
                        "FIND_PACKAGE;FIND_HEADER;FIND_LIBRARY;FOUND;LINK")
  string(REGEX REPLACE "^TAUT_" "TAUT_HAVE_" have "${switch}")
  # Reset first: a reconfigure with the switch OFF must turn the dependency off again.
  set(${have} OFF CACHE INTERNAL "${dep_NAME} found")
  if("${${switch}}" STREQUAL "AUTO" OR ${switch})
    if(dep_FIND_PACKAGE)
      find_package(${dep_FIND_PACKAGE})
    endif()
    if(dep_FIND_HEADER)
      find_path(${dep_FIND_HEADER})
    endif()
    if(dep_FIND_LIBRARY)
      find_library(${dep_FIND_LIBRARY})
    endif()
    set(found ON)
    foreach(variable IN LISTS dep_FOUND)
      if(NOT ${variable})
        set(found OFF)
      endif()
    endforeach()
    if(found)
      set(${have} ON CACHE INTERNAL "${dep_NAME} found")
    elseif(NOT "${${switch}}" STREQUAL "AUTO")
      message(FATAL_ERROR
              "${switch}=ON but ${dep_NAME} was not found (apt install ${dep_DEBIAN})")
    endif()
  endif()
  if(${have})
    target_compile_definitions(${target} PRIVATE ${have}=1)
    target_include_directories(${target} PRIVATE ${${dep_INCLUDE_DIR}})
    target_link_libraries(${target} PRIVATE ${dep_LINK})
    string(CONFIGURE "${dep_ON_MESSAGE}" on_message @ONLY)
    message(STATUS "${on_message}")
  else()
    target_compile_definitions(${target} PRIVATE ${have}=0)
    message(STATUS "${dep_OFF_MESSAGE}")
  endif()
endfunction()
