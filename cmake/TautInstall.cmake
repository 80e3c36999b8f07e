# Installs taut's libraries and headers, the exported CMake package (`find_package(taut)`, targets
# taut::parser, taut::transport, taut::http1, taut::router, taut::server, taut::app and
# taut::testing) and one pkg-config file per library (taut-parser.pc, taut-http1.pc, ...). Included from the top-level CMakeLists.txt, after every library target exists.
#
# A new library takes one line at the bottom: taut_install_library(<target> DESCRIPTION "...").
include(CMakePackageConfigHelpers)

set(TAUT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/taut")
set(TAUT_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

# An install directory as pkg-config should spell it: relative ones hang off ${prefix}, so the
# installed tree can be moved (or installed with `cmake --install --prefix`).
function(_taut_pkgconfig_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

# taut_install_library(<target> DESCRIPTION <text> [CMAKE_DEPENDENCIES <package>...]
#                      [PKGCONFIG_LIBS <flag>...])
#
# Installs <target> (if it exists) into the tautTargets export set as taut::<EXPORT_NAME>, the
# headers under its include/ folder, and taut-<EXPORT_NAME>.pc. The .pc file's Requires lists the
# other taut libraries <target> links to; CMAKE_DEPENDENCIES are find_dependency()'d by
# tautConfig.cmake (Threads is added automatically when the target links Threads::Threads), and
# PKGCONFIG_LIBS are appended to the .pc file's Libs (for system libraries).
function(taut_install_library target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DESCRIPTION" "CMAKE_DEPENDENCIES;PKGCONFIG_LIBS")
  if(NOT TARGET ${target})
    return()
  endif()
  get_target_property(component ${target} EXPORT_NAME)
  # Public headers are in <SOURCE_DIR>/include, or where the target's TAUT_HEADER_DIR says (the
  # server layers share one CMakeLists.txt but each has its own include folder).
  get_target_property(header_dir ${target} TAUT_HEADER_DIR)
  if(NOT header_dir)
    get_target_property(source_dir ${target} SOURCE_DIR)
    set(header_dir "${source_dir}/include")
  endif()
  get_target_property(output_name ${target} OUTPUT_NAME)
  if(NOT component)
    message(FATAL_ERROR "taut_install_library(${target}): set the target's EXPORT_NAME")
  endif()
  if(NOT output_name)
    set(output_name ${target})
  endif()

  # Only matters for BUILD_SHARED_LIBS=ON; 0.x releases may break the ABI with every minor version.
  set_target_properties(${target} PROPERTIES
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})

  install(TARGETS ${target} EXPORT tautTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY "${header_dir}/" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

  # Other taut libraries this one links become pkg-config Requires; Threads becomes a CMake
  # dependency. A static library's private links show up as $<LINK_ONLY:...> here.
  set(pc_requires "")
  set(cmake_dependencies ${arg_CMAKE_DEPENDENCIES})
  get_target_property(links ${target} INTERFACE_LINK_LIBRARIES)
  if(NOT links)
    set(links "")
  endif()
  foreach(link IN LISTS links)
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" link "${link}")
    if(link STREQUAL "Threads::Threads")
      list(APPEND cmake_dependencies Threads)
      list(APPEND arg_PKGCONFIG_LIBS -pthread)
    elseif(TARGET "${link}" AND link MATCHES "^taut(::|_)")
      get_target_property(dependency_component "${link}" EXPORT_NAME)
      list(APPEND pc_requires "taut-${dependency_component}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES pc_requires)
  list(JOIN pc_requires ", " TAUT_PC_REQUIRES)
  list(JOIN arg_PKGCONFIG_LIBS " " TAUT_PC_EXTRA_LIBS)
  set_property(GLOBAL APPEND PROPERTY TAUT_CMAKE_DEPENDENCIES ${cmake_dependencies})
  set_property(GLOBAL APPEND PROPERTY TAUT_COMPONENTS ${component})

  file(RELATIVE_PATH TAUT_PC_PREFIX "/prefix/${TAUT_INSTALL_PKGCONFIGDIR}" "/prefix")
  string(REGEX REPLACE "/$" "" TAUT_PC_PREFIX "\${pcfiledir}/${TAUT_PC_PREFIX}")
  if(IS_ABSOLUTE "${TAUT_INSTALL_PKGCONFIGDIR}")
    set(TAUT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  endif()
  _taut_pkgconfig_dir(TAUT_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
  _taut_pkgconfig_dir(TAUT_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
  set(TAUT_PC_NAME "taut-${component}")
  set(TAUT_PC_DESCRIPTION "${arg_DESCRIPTION}")
  set(TAUT_PC_LIBRARY "${output_name}")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/taut-library.pc.in"
                 "${PROJECT_BINARY_DIR}/pkgconfig/${TAUT_PC_NAME}.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/${TAUT_PC_NAME}.pc"
          DESTINATION ${TAUT_INSTALL_PKGCONFIGDIR})
endfunction()

# taut_parser is C++, and C programs use it too (taut.h): linked by the C compiler, they need the
# C++ runtime it was built against, the C++ compiler's implicit standard library. A C++ consumer
# links it anyway. (The .pc files carry no -std flag: see require_cxx20.hpp.)
set(taut_cxx_runtime "")
foreach(implicit IN LISTS CMAKE_CXX_IMPLICIT_LINK_LIBRARIES)
  if(implicit MATCHES "^(stdc\\+\\+|c\\+\\+)$")
    set(taut_cxx_runtime "-l${implicit}")
    break()
  endif()
endforeach()
set(TAUT_CXX_RUNTIME "${taut_cxx_runtime}")  # for tautConfig.cmake, to C-only projects
taut_install_library(taut_parser
  DESCRIPTION "Strict, zero-copy, allocation-free HTTP/1.1 request and response parser, with a C API (taut.h)"
  PKGCONFIG_LIBS ${taut_cxx_runtime})
set(_taut_transport_libs "")
if(TAUT_HAVE_IO_URING)
  list(APPEND _taut_transport_libs -luring)
endif()
if(TAUT_HAVE_TLS)
  list(APPEND _taut_transport_libs -lssl -lcrypto)
endif()
if(_taut_transport_libs)
  set(_taut_transport_libs PKGCONFIG_LIBS ${_taut_transport_libs})
endif()
taut_install_library(taut_transport
  DESCRIPTION "TCP, Unix-socket and in-memory byte transports with an epoll or io_uring event loop"
  ${_taut_transport_libs})
taut_install_library(taut_http1
  DESCRIPTION "Sans-I/O HTTP/1.1 server connection (bytes and time in, bytes out) on taut-parser")
taut_install_library(taut_router
  DESCRIPTION "Go 1.22-style HTTP request patterns and path cleaning")
taut_install_library(taut_server
  DESCRIPTION "HTTP/1.1 server loops, threads, listeners and access log over taut-transport")
taut_install_library(taut_app
  DESCRIPTION "taut's handler API, mux, middleware and static files")
taut_install_library(taut_testing
  DESCRIPTION "In-memory HTTP client on a fake clock for testing taut handlers (like httptest)")
taut_install_library(taut_client
  DESCRIPTION "HTTP/1.1 client with a connection pool per origin, over TCP, Unix and memory")
taut_install_library(taut_proxy
  DESCRIPTION "Reverse proxy handler for taut::mux over taut::client's pool")

# The package: tautTargets.cmake (installed and, for use straight from a build tree, exported
# there too), tautConfig.cmake and tautConfigVersion.cmake.
get_property(taut_components GLOBAL PROPERTY TAUT_COMPONENTS)
list(JOIN taut_components ", " TAUT_COMPONENT_LIST)
get_property(taut_cmake_dependencies GLOBAL PROPERTY TAUT_CMAKE_DEPENDENCIES)
set(TAUT_FIND_DEPENDENCIES "")
if(taut_cmake_dependencies)
  list(REMOVE_DUPLICATES taut_cmake_dependencies)
  foreach(dependency IN LISTS taut_cmake_dependencies)
    string(APPEND TAUT_FIND_DEPENDENCIES "find_dependency(${dependency})\n")
  endforeach()
endif()

install(EXPORT tautTargets NAMESPACE taut:: DESTINATION ${TAUT_INSTALL_CMAKEDIR})
export(EXPORT tautTargets NAMESPACE taut:: FILE "${PROJECT_BINARY_DIR}/tautTargets.cmake")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/tautConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/tautConfig.cmake"
  INSTALL_DESTINATION ${TAUT_INSTALL_CMAKEDIR}
  NO_SET_AND_CHECK_MACRO)
# 0.x: a minor version may break the API, so only the same minor version is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/tautConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/tautConfig.cmake" "${PROJECT_BINARY_DIR}/tautConfigVersion.cmake"
        DESTINATION ${TAUT_INSTALL_CMAKEDIR})
