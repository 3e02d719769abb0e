# Puts the built project into a scratch prefix, then configures, builds and
# runs a tiny consumer that finds it with find_package(tetrapak-asio), and
# builds and runs it again with the flags pkg-config gives.
#   MODE=install: `cmake --install` into the prefix;
#   MODE=deb: `cpack -G DEB`, then the .deb extracted (dpkg-deb -x) into a
#             scratch root whose usr/ is the prefix.
file(REMOVE_RECURSE ${WORK_DIR})
if(MODE STREQUAL "deb")
  execute_process(COMMAND cpack -G DEB --config ${BINARY_DIR}/CPackConfig.cmake -B ${WORK_DIR}/package
                  RESULT_VARIABLE rc)
  file(GLOB deb ${WORK_DIR}/package/*.deb)
  if(rc OR NOT deb)
    message(FATAL_ERROR "cpack -G DEB failed")
  endif()
  message(STATUS "package: ${deb}")
  execute_process(COMMAND dpkg-deb -x ${deb} ${WORK_DIR}/root RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "dpkg-deb -x ${deb} failed")
  endif()
  set(prefix ${WORK_DIR}/root/usr)
else()
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "install failed")
  endif()
  set(prefix ${WORK_DIR}/prefix)
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/test/consumer -B ${WORK_DIR}/build
                -DCMAKE_PREFIX_PATH=${prefix} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer configure failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer build failed")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "consumer said: ${out}")
if(rc OR NOT out MATCHES "error=tetrapak.client:1\nversion=${VERSION}\n")
  message(FATAL_ERROR "consumer run failed: ${rc}")
endif()

# The same program built with the flags pkg-config gives for the installed package.
find_program(PKG_CONFIG pkg-config REQUIRED)
find_program(CXX NAMES c++ g++ REQUIRED)
file(GLOB_RECURSE pc_file ${prefix}/*/tetrapak-asio.pc)
if(NOT pc_file)
  message(FATAL_ERROR "no tetrapak-asio.pc installed under ${prefix}")
endif()
get_filename_component(pc_dir ${pc_file} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs tetrapak-asio OUTPUT_VARIABLE pc_flags
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "pkg-config --cflags --libs tetrapak-asio failed")
endif()
message(STATUS "pkg-config: ${pc_flags}")
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
execute_process(COMMAND ${CXX} -std=c++20 ${SOURCE_DIR}/test/consumer/main.cpp ${pc_flags} -o ${WORK_DIR}/consumer-pc
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer build with pkg-config's flags failed")
endif()
execute_process(COMMAND ${WORK_DIR}/consumer-pc RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "consumer (pkg-config) said: ${out}")
if(rc OR NOT out MATCHES "error=tetrapak.client:1\nversion=${VERSION}\n")
  message(FATAL_ERROR "consumer (pkg-config) run failed: ${rc}")
endif()
